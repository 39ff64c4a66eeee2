"""One module per store type behind one small protocol (``storage.backends.base``)."""
