"""What the emulator's answers say: a short tour of gemtui, so a first demo shows the app, not noise.

The emulator cannot answer a question, so its answers talk about what the person is looking at: the
gauges, the queue, the switch between models, the keys. Sentences, lists and code blocks are drawn
from here in an order seeded by the prompt (see textgen).
"""

from __future__ import annotations

# Every opener names the emulator: .ci/demo-check.sh waits for that word to see an answer arrive.
OPENERS = (
    "This answer comes from the demo emulator, which cannot read your question, so it shows you around gemtui instead.",
    "You are talking to gemtui's bundled emulator: it speaks the real Gemini wire format and keeps the "
    "free tier's limits, but its answers are a tour of the app.",
    "Demo mode answers every prompt with a little of the tour, while the emulator counts your requests "
    "exactly as the real service would.",
)

SENTENCES = (
    "The panel on the right shows four gauges for the model in use: requests per minute, input tokens "
    "per minute, requests per day and images per minute.",
    "Every gauge says how much is used, what the limit is and when the window frees again.",
    "On the free tier Pro allows five requests a minute and one hundred a day, so the gauges fill quickly.",
    "The day's count resets at midnight in California, and the gauge counts down to that moment.",
    "When a gauge turns yellow you are past eighty per cent of that limit, and red means ninety-five.",
    "gemtui counts every request in a local ledger before it is sent, so it knows a limit is near before "
    "the server does.",
    "A message that would break a limit is not sent: it waits in the queue with the reason and a countdown.",
    "Type a few messages quickly and watch the queue fill on the right, each one with its own time to go.",
    "In the queue panel, x cancels a waiting message, e edits it and m merges them all into one request.",
    "Merging three waiting questions into one request spends one request of the minute instead of three.",
    "In auto mode, when Pro has no room, the message goes to Flash at once and the answer's label says so.",
    "The routing line above the composer tells you which model is standing in and when Pro frees again.",
    "As soon as Pro has room again, the next message goes back to it and a short notice says so.",
    "If you would rather wait for Pro, /policy wait holds messages until it frees instead of switching.",
    "With /policy ask a small dialog offers the choice each time: switch now, wait, or cancel.",
    "Every answer is labelled with the model that wrote it, its tokens and how long it took.",
    "A 429 the ledger did not predict still teaches it something: the limit it names is learned for next time.",
    "Long conversations are trimmed to a budget, and a marker shows which earlier messages were left out.",
    "Use /context to see what the next request will send, and /pin to keep a message in every request.",
    "Ctrl+R sends the last prompt again, and Escape cancels an answer while it is being written.",
    "Every conversation is stored as it happens, so /sessions can reopen it after a restart.",
    "Keys live in your system keyring, never in a file, and /auth switches between profiles.",
    "The command palette opens with Ctrl+P, and typing a slash in the composer lists every command.",
    "Outside the app, gemtui ask answers one prompt on standard output and gemtui quota prints the gauges.",
    "A batch of prompts runs at the pace the limits allow and never collects a rate-limit error on the way.",
)

LISTS = (
    "What to try next:\n"
    "- Send three messages in a row and watch them queue\n"
    "- Open `/quota` for the full table of limits\n"
    "- Switch the model with `/model flash` or `/model pro`\n"
    "- Press F1 for every key and command",
    "The four limits gemtui keeps for each model:\n"
    "- **RPM**: requests in any rolling minute\n"
    "- **TPM**: input tokens in any rolling minute\n"
    "- **RPD**: requests since midnight, Pacific time\n"
    "- **IPM**: images in any rolling minute",
    "What happens when Pro is full:\n"
    "1. The ledger sees there is no room before anything is sent\n"
    "2. In auto mode the message goes to Flash at once\n"
    "3. The routing line counts down to when Pro is free again\n"
    "4. The next message after that goes back to Pro",
)

CODE_BLOCKS = (
    "From a shell, the same engine answers one prompt at a time:\n"
    "```bash\n"
    'gemtui ask "why is the sky blue?"\n'
    "gemtui ask --batch prompts.txt --out answers.jsonl\n"
    "gemtui quota\n"
    "```",
    "`gemtui quota --json` prints what the panel shows, for scripts:\n"
    "```json\n"
    '{"model": "gemini-2.5-pro", "dimension": "rpm", "used": 3, "limit": 5}\n'
    "```",
    "The ledger's question before every send, in short:\n"
    "```python\n"
    "def can_send(used, limit, cost):\n"
    "    return used + cost <= limit\n"
    "```",
)
