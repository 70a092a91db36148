"""dui-agent: measures the DUI from a site workstation and delivers every result.

`__version__` is looked up on first use, so the probe process, which imports this
package, does not pay for it.
"""

from __future__ import annotations

__all__ = ["__version__"]


def __getattr__(name: str) -> str:
    if name == "__version__":
        from runtime.version import VERSION

        return VERSION
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
