"""hearth's continuous-batching engine and llama.cpp, side by side in one invocation.

Same GGUF (SmolLM2-135M-Instruct requantized to Q8_0 by llama.cpp, cached next to the
Q4_1 original), same workload: N sequences of P random prompt tokens, each generating G
tokens greedily, EOS ignored. llama.cpp runs through llama-cpp-python's low-level
batched API: one llama_batch holding all prompts, then one batch of N tokens per step.

    pip install llama-cpp-python
    cargo build --release
    python3 benches/engine_vs_llama_cpp.py [--concurrency 1,8,32] [--prompt-tokens 50] [--new-tokens 64]

Prints per concurrency: prefill and decode tok/s of both, and hearth / llama.cpp.
"""
import argparse
import ctypes
import json
import os
import random
import subprocess
import sys
import tempfile
import time

import llama_cpp
import numpy as np

LLAMA_FTYPE_MOSTLY_Q8_0 = 7


def q8_0_model(source: str) -> str:
    target = source.replace(".Q4_1.gguf", ".Q8_0.gguf")
    if target == source:
        target = source + ".Q8_0.gguf"
    if not os.path.exists(target):
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = LLAMA_FTYPE_MOSTLY_Q8_0
        params.allow_requantize = True
        partial = target + ".partial"
        if llama_cpp.llama_model_quantize(source.encode(), partial.encode(), ctypes.byref(params)) != 0:
            sys.exit(f"llama.cpp could not requantize {source}")
        os.replace(partial, target)
    return target


def llama_cpp_run(model, n_vocab: int, n: int, prompt: int, new: int, threads: int) -> dict:
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = n * (prompt + new) + 64
    cparams.n_batch = max(n * prompt, n)
    cparams.n_ubatch = max(n * prompt, n)
    cparams.n_seq_max = n
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    batch = llama_cpp.llama_batch_init(max(n * prompt, n), 0, n)
    rng = random.Random(n)
    prompts = [[rng.randrange(n_vocab) for _ in range(prompt)] for _ in range(n)]

    def fill(entries):
        for i, (tok, pos, seq, want) in enumerate(entries):
            batch.token[i] = tok
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq
            batch.logits[i] = want
        batch.n_tokens = len(entries)

    def greedy(i):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,))
        return int(np.argmax(logits))

    fill([(t, p, s, p == prompt - 1) for s in range(n) for p, t in enumerate(prompts[s])])
    started = time.perf_counter()
    if llama_cpp.llama_decode(ctx, batch) != 0:
        sys.exit("llama_decode failed on the prompts")
    nxt = [greedy(s * prompt + prompt - 1) for s in range(n)]
    prefill_s = time.perf_counter() - started

    started = time.perf_counter()
    for step in range(new - 1):
        fill([(nxt[s], prompt + step, s, True) for s in range(n)])
        if llama_cpp.llama_decode(ctx, batch) != 0:
            sys.exit("llama_decode failed while decoding")
        nxt = [greedy(s) for s in range(n)]
    decode_s = time.perf_counter() - started
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    return {"prefill_tok_s": n * prompt / prefill_s, "decode_tok_s": n * (new - 1) / decode_s}


@llama_cpp.llama_log_callback
def _quiet(level, text, user_data):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default=os.path.expanduser("~/.cache/hearth/SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--hearth", default="target/release/hearth")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--prompt-tokens", type=int, default=50)
    ap.add_argument("--new-tokens", type=int, default=64)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--requantize", default="auto", help="hearth's --requantize (auto: f32 for this small model)")
    ap.add_argument("--json", help="write both result sets here")
    args = ap.parse_args()
    concurrency = [int(c) for c in args.concurrency.split(",")]
    model_path = q8_0_model(args.model)

    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [args.hearth, "bench", "engine", "--model", model_path, "--requantize", args.requantize,
             "--concurrency", args.concurrency, "--prompt-tokens", str(args.prompt_tokens),
             "--new-tokens", str(args.new_tokens), "--json", out.name],
            check=True, stdout=subprocess.DEVNULL,
        )
        hearth = {r["concurrency"]: r for r in json.load(open(out.name))["results"]}

    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    mparams = llama_cpp.llama_model_default_params()
    model = llama_cpp.llama_model_load_from_file(model_path.encode(), mparams)
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    theirs = {n: llama_cpp_run(model, n_vocab, n, args.prompt_tokens, args.new_tokens, args.threads) for n in concurrency}

    print(f"{os.path.basename(model_path)} (hearth --requantize {args.requantize}), {args.prompt_tokens}-token prompts, "
          f"{args.new_tokens} new tokens, greedy, {args.threads} threads")
    print(f"{'seqs':>4} | {'prefill tok/s hearth':>20} {'llama.cpp':>10} {'ratio':>6} | {'decode tok/s hearth':>19} {'llama.cpp':>10} {'ratio':>6}")
    for n in concurrency:
        h, l = hearth[n], theirs[n]
        print(f"{n:>4} | {h['prefill_tok_s']:>20.1f} {l['prefill_tok_s']:>10.1f} {h['prefill_tok_s'] / l['prefill_tok_s']:>5.2f}x"
              f" | {h['decode_tok_s']:>19.1f} {l['decode_tok_s']:>10.1f} {h['decode_tok_s'] / l['decode_tok_s']:>5.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"model": model_path, "hearth": hearth, "llama_cpp": theirs}, f, indent=1)


if __name__ == "__main__":
    main()
