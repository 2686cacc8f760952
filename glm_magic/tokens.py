"""Token counts guessed from text, for when the provider has not said (yet).

The provider's own count arrives with the last chunk of a stream; until then
(and for a stream that never finishes) a view or a result can only estimate.
Counting chunks is no estimate at all (a chunk can carry several tokens: 342
chunks were 533 tokens), so the guess is made from the text itself.

GLM's tokenizer is not public as a count per character. The ratios are the
usual rules of thumb: about four characters per token of English and code,
and fewer tokens than characters for Chinese in tokenizers built for it
(0.5-0.8 per character for ChatGLM and Qwen, in a survey of tokenizers,
https://blog.want.biz/post/1766993911374, read 2026-12-01). Only the
provider's count is exact; where both exist, it wins.
"""

from __future__ import annotations

import re

CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af"
    "\uf900-\ufaff\uff00-\uffef\U00020000-\U0002ffff]"
)
CHARS_PER_TOKEN = 4
TOKENS_PER_CJK = 0.7


class TokenGuess:
    """A running estimate over text that arrives in pieces.

    Characters are counted as they come and the estimate is worked out when
    asked, so a stream of tiny deltas costs a ``len`` and a regex scan each.
    """

    def __init__(self) -> None:
        self.other = 0
        self.cjk = 0

    def add(self, text: str) -> None:
        cjk = len(CJK.findall(text))
        self.cjk += cjk
        self.other += len(text) - cjk

    @property
    def tokens(self) -> int:
        return round(self.cjk * TOKENS_PER_CJK + self.other / CHARS_PER_TOKEN)


def likely_tokens(text: str) -> int:
    """The likely number of tokens in ``text`` (not an upper or lower bound)."""
    guess = TokenGuess()
    guess.add(text)
    return guess.tokens
