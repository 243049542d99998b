"""The policy side: reward heads that pick, pair and train a language model's answers.

- :func:`best_of_n` / :func:`score_candidates`: score answers you already have and pick
  the best per prompt (core install, no LM).
- :func:`generate_candidates` / :func:`load_policy_model`: sample answers from a causal LM
  (SmolLM2-135M-Instruct offline by default; CUDA and bfloat16 when present).
- :func:`preference_pairs`: head-scored answers as DPO pairs in TRL's preference format
  (a ``datasets.Dataset``); :func:`dpo_config` / :func:`train_dpo`: TRL's DPOTrainer.
- :func:`as_trl_reward_func`: a head as a reward function for GRPOTrainer and friends;
  :func:`as_remote_reward_func`: the same, asking a running ``embrm serve`` over HTTP.
- :func:`prompt_text` / :func:`response_text`: the text a prompt or answer (string or chat
  messages) is embedded as; the same functions as :func:`embrm.data.render_prompt` and
  :func:`embrm.data.render_response`, which the readers use for training data.

Everything that needs torch, transformers, TRL or datasets imports them when called; a
missing one raises an ImportError naming ``pip install 'embrm[policy]'`` (httpx for the
remote reward function: ``pip install 'embrm[serve]'``).
"""

from embrm.policy._dpo import PAIR_STRATEGIES, dpo_config, preference_pairs, train_dpo
from embrm.policy._generate import generate_candidates, load_policy_model
from embrm.policy._remote import as_remote_reward_func
from embrm.policy._reward_func import as_trl_reward_func
from embrm.policy._scoring import BestOfN, best_of_n, prompt_text, response_text, score_candidates

__all__ = [
    "PAIR_STRATEGIES",
    "BestOfN",
    "as_remote_reward_func",
    "as_trl_reward_func",
    "best_of_n",
    "dpo_config",
    "generate_candidates",
    "load_policy_model",
    "preference_pairs",
    "prompt_text",
    "response_text",
    "score_candidates",
    "train_dpo",
]
