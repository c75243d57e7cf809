"""Seeded, deterministic arrival lists: bursty, mixed prompt sizes, sized from a model's free-tier limits.

An hour (`minutes`) of arrivals for one model:

* background: short prompts (~200 tokens), Poisson at `bg_per_min`;
* RPM bursts: `rpm_burst` short prompts inside ~30 s (2x the model's RPM: at least two windows to drain);
* TPM bursts: long prompts (`long_range` tokens) whose sum is ~1.6x the model's TPM inside ~30 s, so the
  token budget, not the request count, decides how many go per minute;
* bursts alternate RPM/TPM, the last one two minutes before the end so its backlog cannot all drain.

Every prompt asks for a short answer (`[[tokens=50]]`) so output time does not dominate. Prompt texts are
slices of one seeded prose corpus behind a unique header line (distinct texts, distinct answers). Sizes
are targets: the real count of each prompt is what the emulator's `countTokens` says (`Prompt.tokens`).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

ANSWER_TOKENS = 50

# Prose with the shape of technical English: mostly short words, some long ones the emulator splits,
# punctuation, a few numbers.
_VOCAB_TEXT = (
    "the a of to and in is it that for on with as at by from this be are was or an not we can if"
    " quota window request token model minute limit budget history answer question engine ledger"
    " reserve commit release stream chunk error retry delay project key profile session context"
    " server client latency throughput configuration international implementation documentation"
    " deterministic asynchronous reservation calibration estimate benchmark measurement, results."
    " however, therefore; because: each every other another first second last next 2025 42 3.14 10,000"
    " user users model's they're (see below) e.g. i.e. -- value values"
)
_VOCAB = tuple(_VOCAB_TEXT.split())


@dataclass
class Prompt:
    index: int
    arrival: float  # simulated seconds after the start of the hour
    kind: str  # "short" | "long"
    text: str
    tokens: int = 0  # the emulator's countTokens (filled in by the benchmark)


@dataclass(frozen=True)
class Shape:
    bg_per_min: float
    rpm_burst: int
    long_range: tuple[int, int]
    tpm_burst_tokens: int
    short_tokens: int = 200


SHAPES = {
    # 5 RPM / 250k TPM / 100 RPD: ~90 prompts an hour, under RPD, above RPM and TPM in bursts.
    "gemini-2.5-pro": Shape(bg_per_min=0.25, rpm_burst=10, long_range=(30_000, 100_000), tpm_burst_tokens=400_000),
    # 15 RPM / 1M TPM / 500 RPD: ~400 prompts an hour. Flash's TPM only binds when a minute's requests average
    # above 66k tokens, so its long prompts are 50k-150k.
    "gemini-2.5-flash": Shape(bg_per_min=2.5, rpm_burst=38, long_range=(50_000, 150_000), tpm_burst_tokens=1_600_000),
}

BURST_MINUTES = (3, 9, 16, 24, 31, 38, 46, 53, 58)  # of a 60-minute hour; scaled for other lengths
BURST_SPAN_S = 30.0


class Corpus:
    """One long seeded text; prompts are word-aligned slices of it (cheap to cut, never re-generated)."""

    def __init__(self, seed: int, words: int = 400_000) -> None:
        rng = random.Random(seed)
        self.words = rng.choices(_VOCAB, k=words)
        # ~1.6 emulator tokens a word for this vocabulary; the exact count comes from countTokens.
        self.tokens_per_word = 1.62

    def text(self, rng: random.Random, tokens: int) -> str:
        n = max(1, int(tokens / self.tokens_per_word))
        start = rng.randrange(len(self.words))
        words = self.words[start : start + n]
        while len(words) < n:
            words += self.words[: n - len(words)]
        return " ".join(words)


def build(model: str, *, minutes: float = 60.0, seed: int = 1, corpus: Corpus | None = None) -> list[Prompt]:
    shape = SHAPES[model]
    rng = random.Random(f"{model}/{seed}")
    corpus = corpus or Corpus(seed)
    span = minutes * 60.0
    raw: list[tuple[float, str, int]] = []  # (arrival, kind, target tokens)

    t = rng.expovariate(shape.bg_per_min / 60.0)
    while t < span:
        raw.append((t, "short", shape.short_tokens))
        t += rng.expovariate(shape.bg_per_min / 60.0)

    for number, minute in enumerate(BURST_MINUTES):
        at = minute * 60.0 * minutes / 60.0 + rng.uniform(0, 20)
        if at >= span:
            continue
        if number % 2 == 0:
            for _ in range(shape.rpm_burst):
                raw.append((at + rng.uniform(0, BURST_SPAN_S), "short", shape.short_tokens))
        else:
            total = 0
            while total < shape.tpm_burst_tokens:
                size = rng.randint(*shape.long_range)
                raw.append((at + rng.uniform(0, BURST_SPAN_S), "long", size))
                total += size

    raw.sort()
    prompts = []
    for index, (arrival, kind, target) in enumerate(raw):
        jitter = rng.randint(-40, 40) if kind == "short" else 0
        body = corpus.text(rng, target + jitter)
        header = (
            f"Request {index} ({kind}) of the {model} workload, seed {seed}. "
            f"Summarise the text below in a few lines. [[tokens={ANSWER_TOKENS}]]\n\n"
        )
        prompts.append(Prompt(index, round(arrival, 3), kind, header + body))
    return prompts
