"""Embedding: the Encoder over its backends (sentence encoder, causal LM, static), text rendering,
engines (local, Ray) and the on-disk vector cache.

Names imported as ``name as name`` are shared with embrm's other packages and scripts;
they are not the public API (``__all__``).
"""

from embrm.embed._arrays import EmbeddingArray
from embrm.embed._cache import (
    VectorCache,
    VerifyReport,
    cached_identities,
    default_cache_dir,
    pair_keys,
    text_keys,
)
from embrm.embed._decoder import DEFAULT_DECODER as DEFAULT_DECODER
from embrm.embed._decoder import load_causal_lm as load_causal_lm
from embrm.embed._decoder import resolve_decoder as resolve_decoder
from embrm.embed._distributed import RayEncoder, RayEngine
from embrm.embed._encoder import Encoder
from embrm.embed._lexical import LexicalFeatures
from embrm.embed._mpnet import MPNET_INSTALL as MPNET_INSTALL
from embrm.embed._mpnet import MPNET_MODEL as MPNET_MODEL
from embrm.embed._mpnet import mpnet_parts as mpnet_parts
from embrm.embed._onnx import DEFAULT_MODEL, available_devices, make_session
from embrm.embed._onnx import pool as pool
from embrm.embed._render import TEXT_FORMAT_VERSION, render_pairs, render_windows
from embrm.embed._representations import (
    DEFAULT_REPRESENTATION,
    FITTED_REPRESENTATIONS,
    PRESETS,
    REPRESENTATIONS,
)
from embrm.embed._static import STATIC_MODEL
from embrm.embed._static import STATIC_SOURCES as STATIC_SOURCES
from embrm.embed._store import model_store
from embrm.embed._token_rewards import TokenRewards, token_rewards
from embrm.embed._tuned import RewardTunedStatic

__all__ = [
    "DEFAULT_REPRESENTATION",
    "DEFAULT_MODEL",
    "FITTED_REPRESENTATIONS",
    "PRESETS",
    "REPRESENTATIONS",
    "STATIC_MODEL",
    "TEXT_FORMAT_VERSION",
    "TokenRewards",
    "EmbeddingArray",
    "Encoder",
    "LexicalFeatures",
    "RayEncoder",
    "RewardTunedStatic",
    "RayEngine",
    "VectorCache",
    "VerifyReport",
    "available_devices",
    "cached_identities",
    "default_cache_dir",
    "make_session",
    "model_store",
    "pair_keys",
    "render_pairs",
    "render_windows",
    "text_keys",
    "token_rewards",
]
