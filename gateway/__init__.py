"""Foundation of the gateway: settings, the error hierarchy, logging and Redis key names.

Every other package may import from here; this package imports none of them.
"""
