"""An example s2s_plugin plugin package (see docs/plugins.md)."""
__version__ = "0.2.0"
