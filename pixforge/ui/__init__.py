"""The web UI (``pixforge serve``): a Gradio app built from the registries (see :mod:`pixforge.ui.app`)."""
