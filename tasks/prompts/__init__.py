"""Versioned prompt templates: ``<kind>/<version>.yaml`` beside this file, loaded by
``templates``."""
