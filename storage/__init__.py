"""Object storage behind the gateway: S3 (and S3-compatible stores), Azure Blob and Google
Cloud Storage instances from the storage file, one access policy, presigned URLs."""
