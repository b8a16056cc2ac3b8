"""Sequence generation over any backend: greedy decoding, beam search with length normalisation, sampling.

A backend gives one function, `step(rows, prefixes) -> log-probabilities (len(rows), vocab)` of the next token
after each prefix (int64 array (n, t)) for samples `rows` of the batch. Standard library and NumPy only (the
PyTorch code generator inlines it), so every backend decodes with this one implementation.
"""
from __future__ import annotations

import numpy as np

from .multidata import EOS, caption_text


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def normalised(score: float, length: int, alpha: float) -> float:
    """A hypothesis' log-probability divided by its length ** alpha (alpha 0: the raw sum)."""
    return score / max(length, 1) ** alpha


def beam_search(step, count: int, start: list, eos: int | None, beam: int = 1, max_length: int = 20,
                alpha: float = 1.0) -> list:
    """The generated tokens (after `start`, up to and including eos) of `count` samples.

    beam 1 is greedy decoding. With beam k, each sample keeps its k best unfinished hypotheses by total
    log-probability; a hypothesis ends at eos or after max_length tokens, and the finished ones are ranked by
    log-probability / length ** alpha (length normalisation). Ties go to the lower token id."""
    alive = [[(0.0, [])] for _ in range(count)]          # per sample: (log-prob, tokens)
    done = [[] for _ in range(count)]
    for _ in range(max_length):
        rows = [(s, h) for s in range(count) for h in alive[s]]
        if not rows:
            break
        prefixes = np.asarray([list(start) + h[1] for _, h in rows], dtype=np.int64)
        logp = np.asarray(step(np.asarray([s for s, _ in rows]), prefixes), dtype=np.float64)
        fresh = [[] for _ in range(count)]
        for (sample, (score, tokens)), row in zip(rows, logp):
            best = np.argsort(-row, kind="stable")[:beam]
            fresh[sample].extend((score + float(row[t]), tokens + [int(t)]) for t in best)
        for sample in range(count):
            ranked = sorted(fresh[sample], key=lambda h: -h[0])[:beam]
            ended = [h for h in ranked if eos is not None and h[1][-1] == eos]
            done[sample] += ended
            alive[sample] = [] if len(done[sample]) >= beam else [h for h in ranked if h not in ended]
    out = []
    for sample in range(count):
        pool = done[sample] or alive[sample]
        out.append(max(pool, key=lambda h: normalised(h[0], len(h[1]), alpha))[1] if pool else [])
    return out


def sample_tokens(step, start: list, length: int, temperature: float, seed: int = 0) -> list:
    """`length` tokens after `start`, each drawn from softmax(log-probs / temperature) (one sequence)."""
    rng = np.random.default_rng(seed)
    tokens = list(start)
    for _ in range(length):
        logp = np.asarray(step(np.zeros(1, dtype=np.int64), np.asarray([tokens], dtype=np.int64))[0], np.float64)
        probs = np.exp(log_softmax(logp / temperature))
        tokens.append(int(rng.choice(len(probs), p=probs / probs.sum())))
    return tokens[len(start):]


def bleu(references: list, hypotheses: list, max_n: int = 4) -> float:
    """Corpus BLEU (Papineni et al., 2002) with one reference per hypothesis (lists of words).

    The modified n-gram precisions p_1..p_max_n (each hypothesis n-gram counted at most as often as it occurs
    in its reference) are pooled over the corpus; BLEU = BP * exp(mean log p_n), with the brevity penalty
    BP = 1 when the hypotheses' total length c exceeds the references' r, else exp(1 - r / c)."""
    matched, total = [0] * max_n, [0] * max_n
    ref_len = hyp_len = 0
    for ref, hyp in zip(references, hypotheses):
        ref_len, hyp_len = ref_len + len(ref), hyp_len + len(hyp)
        for n in range(1, max_n + 1):
            ref_counts = _ngrams(ref, n)
            hyp_counts = _ngrams(hyp, n)
            matched[n - 1] += sum(min(c, ref_counts.get(g, 0)) for g, c in hyp_counts.items())
            total[n - 1] += max(len(hyp) - n + 1, 0)
    if hyp_len == 0 or min(matched) == 0:
        return 0.0
    log_precision = sum(np.log(m / t) for m, t in zip(matched, total)) / max_n
    brevity = 1.0 if hyp_len > ref_len else float(np.exp(1 - ref_len / hyp_len))
    return float(brevity * np.exp(log_precision))


def _ngrams(words: list, n: int) -> dict:
    counts: dict = {}
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        counts[gram] = counts.get(gram, 0) + 1
    return counts


def caption_scores(references: np.ndarray, generated: list, words: list) -> dict:
    """exact_match (share of captions equal to the reference) and corpus BLEU-4 (netspec.decode.bleu).

    BLEU reads each caption's tokens after <bos> up to and including <eos> (a caption cut off at --max-length
    has none): the digits' captions have three words, so without the end token they hold no 4-gram at all."""
    refs = [_ended(row, words) for row in references]
    hyps = [_ended(ids, words) for ids in generated]
    exact = sum(r == h for r, h in zip(refs, hyps)) / max(len(refs), 1)
    return {"exact_match": exact, "bleu4": bleu(refs, hyps)}


def _ended(ids, words: list) -> list:
    """A caption's words, with <eos> last when the ids hold one."""
    text = caption_text(ids, words).split()
    eos = words.index(EOS)
    return text + [EOS] if any(int(i) == eos for i in ids) else text
