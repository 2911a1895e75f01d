"""Writes llama.cpp's token ids for a fixed set of strings, as test data.

Our GGUF tokenizer must give exactly these ids (tests/engine.rs). Regenerate with:
    pip install llama-cpp-python
    python3 scripts/llama_cpp_tokens.py MODEL.gguf tests/data/smollm2_llama_cpp_tokens.json
"""
import json
import sys

from llama_cpp import Llama

STRINGS = [
    "Hello, world!",
    " leading space and  double  spaces",
    "def reverse(s: str) -> str:\n    return s[::-1]\n",
    "fn main() {\n\tprintln!(\"{}\", 42);\n}",
    "Numbers: 0 7 42 1234567 3.14159 -2e10",
    "Unicode: héllo wörld, naïve café, Ελληνικά, русский, 日本語のテキスト",
    "Emoji: 🦀🐍 👩‍💻 ✨🎉",
    "<|im_start|>user\nWhat does this do?<|im_end|>\n<|im_start|>assistant\n",
    "CamelCaseIdentifier snake_case_identifier SCREAMING_CASE",
    "   \n\n\t  trailing whitespace   \n",
    "don't won't it's they're I'll we've she'd",
    "URL: https://example.com/path?q=1&r=2#frag <tag attr=\"v\">",
    "",
]

model = Llama(model_path=sys.argv[1], vocab_only=True, verbose=False)
cases = []
for text in STRINGS:
    ids = model.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    cases.append({"text": text, "ids": ids})
import llama_cpp

with open(sys.argv[2], "w", encoding="utf-8") as f:
    f.write('{"model": "SmolLM2-135M-Instruct.Q4_1.gguf",\n')
    f.write(f' "tool": "llama-cpp-python {llama_cpp.__version__}",\n "cases": [\n')
    f.write(",\n".join("  " + json.dumps(c, ensure_ascii=False) for c in cases))
    f.write("\n ]}\n")
print(f"wrote {len(cases)} cases")
