"""embrm: embedding-based reward modeling. Embed once, train reward heads in seconds."""

from embrm.data import load_dataset
from embrm.embed import Encoder

__version__ = "0.1.0"

__all__ = ["Encoder", "__version__", "load_dataset"]
