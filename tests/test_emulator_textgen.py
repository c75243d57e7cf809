"""The demo's answers read as a tour of gemtui: whole tour sentences, Markdown lists and code, sized as asked."""

from __future__ import annotations

import re

from gemtui.emulator import tour
from gemtui.emulator.textgen import generate_text, target_tokens
from gemtui.emulator.tokenizer import count_text

PROMPTS = [f"question {n}" for n in range(200)] + ["hello", "why is the sky blue?", "x [[tokens=20000]]"]
KNOWN = set(tour.SENTENCES) | set(tour.OPENERS)


def _sentences(paragraph: str) -> list[str]:
    return re.findall(r"\S.*?(?:\.|…)(?= |$)", paragraph)


def test_answers_are_the_same_size_as_asked_and_repeatable():
    for prompt in PROMPTS:
        text = generate_text(prompt, 0)
        assert text == generate_text(prompt, 0)
        assert abs(count_text(text) - target_tokens(prompt, 0)) <= 3, prompt


def test_every_paragraph_is_made_of_tour_sentences_and_only_the_last_is_cut():
    for prompt in PROMPTS:
        blocks = generate_text(prompt, 0).split("\n\n")
        assert any(blocks[0].startswith(opener.split()[0]) for opener in tour.OPENERS)
        for i, block in enumerate(blocks):
            if block in tour.LISTS or block in tour.CODE_BLOCKS:
                continue
            for sentence in _sentences(block):
                if sentence.endswith("…"):
                    assert i == len(blocks) - 1 and block.endswith(sentence), (prompt, block)
                    assert any(known.startswith(sentence[:-1]) for known in KNOWN), sentence
                else:
                    assert sentence in KNOWN, (prompt, sentence)


def test_answers_show_markdown_lists_and_code_and_never_end_in_a_scrap():
    texts = [generate_text(prompt, 0) for prompt in PROMPTS]
    assert sum("\n- " in t or "\n1. " in t for t in texts) > len(texts) // 4
    assert sum("```" in t for t in texts) > len(texts) // 5
    for text in texts:
        assert len(text.split("\n\n")[-1].split()) >= 4 or count_text(text) < 12, text[-80:]


def test_a_one_token_answer_is_still_an_answer():
    assert generate_text("hi [[tokens=1]]", 0).strip()
