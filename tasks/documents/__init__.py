"""Documents inside model requests: the worker reads each ``document`` part once per job
(by URL through the SSRF guard, or from a storage route), caches it per tenant, extracts
its text, and hands it to the provider natively or inlined as text (docs/storage.md)."""
