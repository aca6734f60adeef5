"""napari-amnesia: calcium-imaging analysis as a library, a command and a napari plugin.

The numerical library lives in :mod:`napari_amnesia.core` and never imports a GUI
toolkit; :mod:`napari_amnesia.napari` adapts it to napari; :mod:`napari_amnesia.cli`
is the ``amnesia`` command.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
