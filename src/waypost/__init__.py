"""waypost: versioned, auto-scaling REST endpoints for models and small web apps."""

__version__ = "0.1.0"
