"""CodeBERT-style models for code_to_text and code_search, in plain PyTorch, behind the protocol.

    python -m benchmark.models.codebert --input IN_DIR --output OUT_DIR

One command for both tasks (task.json's ``task`` picks the head). The encoder is RoBERTa's:
word, learned position and token-type embeddings, then post-LayerNorm Transformer layers, with
Hugging Face's parameter names so that a saved RoBERTa/CodeBERT (task.json's ``weights``: a
local folder with config.json, the weights and the tokenizer files) loads into it unchanged.
Without weights the encoder starts from a small random initialization and the tokenizer is a
sub-token vocabulary of the training split. A folder from ``bench models pretrain`` may also
hold a whole code_to_text model trained to write its corpus's docstrings (DOCSTRING_MODEL):
code_to_text then starts from it, decoder included.

- code_to_text: as CodeXGLUE's code-to-text baseline, a Transformer decoder over the encoder's
  states, its inputs embedded by the encoder's embeddings and its output layer tied to the word
  embeddings; beam search (10 at ``paper``, greedy on CPU). Below ``paper`` (``copy``), a
  pointer-generator as well (See et al., 2017): a gate mixes the vocabulary's distribution with
  attention over the source's tokens, moved onto their ids. From scratch on a few thousand
  methods the plain decoder learns the docstrings' language model and writes one generic
  sentence for nearly every method; copying the method's own words makes it read the code.
  Below ``paper`` (``retrieve``) the encoder reads, after the code, the given docstring of the
  nearest other training method by TF-IDF cosine of the code's sub-tokens (retrieval-augmented
  summarization, Zhang et al. 2020, Parvez et al. 2021): the copy mechanism can take words
  from either, and a model trained on permuted docstrings retrieves docstrings that say
  nothing about the code, so its floor stays a floor. The docstring is predicted as words
  (lower-cased, which BLEU ignores). ``loss`` is the given docstring's mean token negative
  log-likelihood and ``p_given`` its per-token geometric mean probability, exp(-loss): the
  product over a whole sentence would put every sample near 0 and hide the per-sample signal.
  ``logit_given`` is p_given's log-odds computed from the tokens' logit gaps (softplus of each,
  in float64), not from the rounded p_given, so that LiRA sees past p_given's 6 decimals.
- code_search: as CodeBERT's code search fine-tuning, the ``<s>`` vector of ``<s> query </s>
  code </s>`` through a dense head gives p(match). Each position also gets an "appears on the
  other side" embedding (DrQA's exact-match feature), one per level of the token's inverse
  document frequency in the training pairs (``overlap`` levels, 0: none), zero at the start
  so that pretrained weights are the starting point unchanged: from scratch on a few thousand
  pairs it is what lets the cross-encoder see lexical overlap. Below ``paper`` each query is
  also contrasted with other codes of its batch (``negatives``, in the batch loss only; the
  per-sample loss and ``p_given`` are the given pair's, and ``logit_given`` its match logit
  difference, negated for a given non-match). Valid and test queries score every candidate,
  batched by code length.

Protocol 3's ``holdout`` samples are read with their labels and predicted as training samples
are (``loss``, ``p_given``, ``logit_given``), but never trained on: the sub-token vocabulary,
code_search's overlap levels and every step come from the training split alone.

Training (AdamW, linear decay after a warm-up), checkpoints and resumption are the shared
trainer's (benchmark.trainer): same events, same checkpoint discipline, same bytes after a kill.

The package holds one idea per module: ``config`` (hyperparameters per profile), ``tokenizers``,
``encoder``, ``heads`` (decoder with copying and beam search; the pair classifier),
``retrieval`` (the nearest training method), ``data`` (each task's samples, batch losses and
prediction lines), ``weights`` (starting points) and ``train`` (the run).
"""

from benchmark.models.codebert.config import (
    DEFAULTS,
    DOCSTRING_MODEL,
    FROM_WEIGHTS,
    POSITIVE,
    REPRESENTATIONS,
    TASKS,
    VOCABULARY,
)
from benchmark.models.codebert.data import CodeSearch, CodeToText, length_batches, pad
from benchmark.models.codebert.encoder import Encoder, init_weights
from benchmark.models.codebert.heads import PairClassifier, Seq2Seq, beam_search, token_losses
from benchmark.models.codebert.tokenizers import SubtokenTokenizer
from benchmark.models.codebert.train import (
    defaults_for,
    main,
    optimizer_and_schedule,
    parameter_counts,
    read_inputs,
    read_task,
    run,
    setup,
    train_epoch,
)
from benchmark.models.codebert.weights import (
    build,
    docstring_model,
    init_word_vectors,
    load_pretrained,
    random_encoder,
    save_docstring_model,
)

__all__ = [
    "DEFAULTS", "DOCSTRING_MODEL", "FROM_WEIGHTS", "POSITIVE", "REPRESENTATIONS", "TASKS",
    "VOCABULARY", "CodeSearch", "CodeToText", "Encoder", "PairClassifier", "Seq2Seq",
    "SubtokenTokenizer", "beam_search", "build", "defaults_for", "docstring_model",
    "init_weights", "init_word_vectors", "length_batches", "load_pretrained", "main",
    "optimizer_and_schedule", "pad", "parameter_counts", "random_encoder", "read_inputs",
    "read_task", "run", "save_docstring_model", "setup", "token_losses", "train_epoch",
]  # fmt: skip
