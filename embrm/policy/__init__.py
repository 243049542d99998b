"""The policy side: reward heads that pick, pair and train a language model's answers.

- :func:`pick_best_of_n` / :func:`score_candidates`: score answers you already have and pick
  the best per prompt (core install, no LM); :func:`embrm.evaluate.best_of_n` is the expected
  golden score of such a pick.
- :func:`generate_candidates` / :func:`load_policy_model`: sample answers from a causal LM
  (SmolLM2-135M-Instruct offline by default; CUDA and bfloat16 when present).
- :func:`preference_dataset`: head-scored answers as DPO pairs in TRL's preference format
  (a ``datasets.Dataset``), paired as :data:`PAIRINGS` says; :func:`dpo_config` /
  :func:`train_dpo`: TRL's DPOTrainer.
- :func:`as_trl_reward_func`: a head as a reward function for GRPOTrainer and friends;
  :func:`as_remote_reward_func`: the same, asking a running ``embrm serve`` over HTTP.
- The text a prompt or answer (string or chat messages) is embedded as is
  :func:`embrm.data.render_prompt` / :func:`embrm.data.render_response`, the rendering the
  readers use for training data.

Everything that needs torch, transformers, TRL or datasets imports them when called; a
missing one raises an ImportError naming ``pip install 'embrm[policy]'`` (httpx for the
remote reward function: ``pip install 'embrm[serve]'``).
"""

from embrm._core.compat import renamed
from embrm.policy._dpo import PAIRINGS, dpo_config, preference_dataset, train_dpo
from embrm.policy._generate import generate_candidates, load_policy_model
from embrm.policy._remote import as_remote_reward_func
from embrm.policy._reward_func import as_trl_reward_func
from embrm.policy._scoring import BestOfNPicks, pick_best_of_n, score_candidates

__all__ = [
    "PAIRINGS",
    "BestOfNPicks",
    "as_remote_reward_func",
    "as_trl_reward_func",
    "dpo_config",
    "generate_candidates",
    "load_policy_model",
    "pick_best_of_n",
    "preference_dataset",
    "score_candidates",
    "train_dpo",
]

#: Old names, kept for one release (each warns).
__getattr__ = renamed(
    "embrm.policy",
    {
        "best_of_n": "embrm.policy.pick_best_of_n",
        "BestOfN": "embrm.policy.BestOfNPicks",
        "preference_pairs": "embrm.policy.preference_dataset",
        "PAIR_STRATEGIES": "embrm.policy.PAIRINGS",
        "prompt_text": "embrm.data.render_prompt",
        "response_text": "embrm.data.render_response",
    },
)
