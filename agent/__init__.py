"""dui-agent: measures the DUI from a site workstation and delivers every result."""

from runtime.version import VERSION as __version__

__all__ = ["__version__"]
