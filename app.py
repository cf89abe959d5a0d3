"""Transfer-learning dashboard: ``python app.py`` serves the page (the page is webui/, the library tl_core/).

Honours GRADIO_SERVER_NAME / GRADIO_SERVER_PORT, TL_HOME and the other variables listed in tl_core/settings.py.
Training never runs in this process: each run is an ``accelerate launch`` subprocess that the page only watches.
"""

import logging

from webui import create_ui, launch_kwargs, warm_up_in_background

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    demo = create_ui().queue(default_concurrency_limit=2)
    warm_up_in_background()
    demo.launch(**launch_kwargs())
