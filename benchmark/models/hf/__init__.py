"""Any Hugging Face model of code, fine-tuned behind the protocol: full, LoRA or head only.

    python -m benchmark.models.hf --input IN_DIR --output OUT_DIR

task.json's ``weights`` is a local Hugging Face folder (config.json, the weights, the
tokenizer); nothing is downloaded. Its config says the family, and the family how each task is
done:

- encoder-only (BERT, RoBERTa): code_search as a cross-encoder, the first state of
  ``<s> query </s> code </s>`` through a classification head; code_to_text and method_name by a
  new Transformer decoder over the encoder's states, tied to its word embeddings (CodeXGLUE's
  code-to-text model for CodeBERT).
- encoder-decoder (T5, BART): code_to_text and method_name as sequence to sequence; code_search
  from the mean of the encoder's states.
- decoder-only (GPT-2, LLaMA): code_to_text and method_name as causal generation after the code
  and a separator; code_search from the last token's state.

code_search takes codebert's two aids with every family: an "appears on the other side"
embedding added to the input embeddings (``overlap`` levels by rarity, zero at the start) and
in-batch negatives (``negatives`` per query, in the batch loss only).

var_misuse is done alike by every family: each source token becomes its sub-words, the backbone
reads the function (an encoder-decoder's encoder, a decoder-only model's hidden states), and
the state of each token's first sub-word feeds GREAT's two pointer heads (location over "no
bug" and the candidates, repair over the candidates) with varmisuse.py's loss and prediction
lines, ``repair_probs`` included. A function keeps the tokens whose sub-words fit in
``max_function`` (and the weights' positions); a token past them has a learned state. ``head``
mode trains the pointer heads alone.

Generation is greedy; each step reads only the token it adds, the rest coming from a key/value
cache (the backbone's, or that of an encoder's text decoder). A method name is generated as its
sub-tokens (words of the name), a docstring as its words. Train lines carry, besides ``loss``
and ``p_given``, the optional ``target_logprobs``: each given target token's log-probability
(docs/protocol.md).

Every task's train and holdout lines carry the optional ``logit_given``, p_given's log-odds
computed from the logits rather than from the 6-decimal p_given, so that it saturates neither
way (LiRA reads it): for generation from each target token's logits (``odds.of_sequence``),
for code_search the match logit difference (negated for a given non-match), for var_misuse
from the pointers' log-probabilities (``varmisuse.logit_given``).

Protocol 3's ``holdout`` samples are read with their labels and predicted as training samples
are, every field included, but never trained on (code_search's holdout pairs are scored as
training pairs, not ranked).

``finetune`` (``bench run --finetune``, ``bench sweep --finetune``): ``full`` trains every
weight; ``lora`` adds peft's low-rank adapters (``lora_r``, ``lora_alpha``, ``lora_dropout``,
``lora_targets``: peft's default modules of the model type unless set) and trains them and the
new layers; ``head`` freezes the backbone and trains the new layers (and, where the checkpoint
generates itself, its output layer). Checkpoints hold only what trains; training, checkpoints
and resumption are the shared trainer's (benchmark.trainer). The start event records the
family, the mode, the weights' fingerprint and the trained parameter count.

Modules: ``config`` (tasks, modes, hyperparameters), ``families`` (loading a folder, its
family, LoRA and freezing), ``tokens`` (words to sub-words, special ids), ``heads`` (the new
layers; var_misuse's pointer head is varmisuse.py's), ``network`` (the backbone with its heads,
for every family), ``data`` (each task's batches and prediction lines) and ``train`` (the run).
"""

from benchmark.models.hf.config import DEFAULTS, MODES, TASKS
from benchmark.models.hf.train import main, run

__all__ = ["DEFAULTS", "MODES", "TASKS", "main", "run"]
