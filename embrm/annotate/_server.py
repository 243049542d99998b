"""Running the labelling page: one round behind uvicorn (``embrm annotate``)."""

from __future__ import annotations

import os
from typing import Any

from embrm._core.compat import import_optional
from embrm.annotate._app import create_annotate_app
from embrm.annotate._log import check_annotator
from embrm.annotate._round import AnnotationRound
from embrm.serve import LOCAL_HOSTS, TOKEN_ENV, check_binding

DEFAULT_PORT = 8765


def annotate(
    queries: str | os.PathLike[str],
    *,
    annotator: str | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    token: str | None = None,
    next_batch: Any = None,
) -> None:
    """Serve the labelling page for the round of ``queries`` until SIGINT or SIGTERM.

    Parameters
    ----------
    queries : path
        The round's query file (``embrm select --out ROUND/queries.csv``).
    annotator : str, optional
        The name put on labels given without ``?annotator=`` in the page's address.
    host : str, default "127.0.0.1"
        Address to bind; anything but loopback needs ``token``.
    port : int, default 8765
    token : str, optional
        Bearer token for the API (default ``$EMBRM_SERVE_TOKEN``); open the page as
        ``http://HOST:PORT/#token=TOKEN``.
    next_batch : NextBatch, optional
        Enables the page's "Next batch" button.

    Example
    -------
    >>> annotate("round1/queries.csv", annotator="alice")  # doctest: +SKIP
    """
    uvicorn = import_optional("uvicorn", "embrm annotate", extra="serve")
    token = token or os.environ.get(TOKEN_ENV) or None
    check_binding(host, token)
    if annotator is not None:
        check_annotator(annotator)
    round_ = AnnotationRound(queries)
    app = create_annotate_app(
        round_, annotator=annotator, token=token, public_host=host not in LOCAL_HOSTS, next_batch=next_batch
    )
    shown = f"[{host}]" if ":" in host else host
    fragment = "#token=<token>" if token else ""
    print(
        f"Labelling {round_.queries_path.name} (round {round_.round_id}) at http://{shown}:{port}/{fragment}",
        flush=True,
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
