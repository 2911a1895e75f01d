"""The peer side of `hearth bench --peer llama.cpp`: llama.cpp runs the workloads hearth
ran, on the same GGUF, with the same prompt token ids, through llama-cpp-python's
low-level batched API, and reports the same figures.

hearth embeds this file and runs it with the interpreter of a venv that has
llama-cpp-python (scripts/bench.sh makes one under ~/.cache/hearth/peer-venv).

stdin: {"model": GGUF path, "threads": N, "workloads": [{"name", "prompts": [[ids]],
        "new_tokens": [n per prompt], "max_seqs": M, "max_batched_tokens": T}]}
stdout: {"version": ..., "results": {name: {"prefill_tok_s", "decode_tok_s", "total_tok_s",
        "token_latency_p50_ms", "token_latency_p99_ms", "peak_rss_mib"}}}

Scheduling mirrors hearth's, so the two do the same work: at most M sequences at once;
each step carries every running sequence's next token and then the prompts of waiting
sequences, up to T tokens (a prompt is never split); a finished sequence's cache is
dropped and its slot refilled the next step. Greedy, EOS ignored. As hearth counts them:
prefill tok/s is the prompt tokens over the time of steps that carried a prompt; decode
tok/s the tokens of decode-only steps over their time; total tok/s every token over the
wall time.
"""
import ctypes
import json
import sys
import time

import llama_cpp
import numpy as np


@llama_cpp.llama_log_callback
def _quiet(level, text, user_data):
    pass


def percentile(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def reset_peak_memory():
    # As hearth does: VmHWM from here on (a child's ru_maxrss starts at its parent's).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_memory_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def run(model, n_vocab, threads, w):
    prompts, new_tokens, max_seqs = w["prompts"], w["new_tokens"], w["max_seqs"]
    budget = max(w["max_batched_tokens"], max(len(p) for p in prompts) + max_seqs)
    cparams = llama_cpp.llama_context_default_params()
    cparams.n_ctx = max_seqs * max(len(p) + n for p, n in zip(prompts, new_tokens)) + 64
    cparams.n_batch = budget
    cparams.n_ubatch = budget
    cparams.n_seq_max = max_seqs
    cparams.n_threads = threads
    cparams.n_threads_batch = threads
    ctx = llama_cpp.llama_init_from_model(model, cparams)
    memory = llama_cpp.llama_get_memory(ctx)
    batch = llama_cpp.llama_batch_init(budget, 0, max_seqs)

    reset_peak_memory()
    waiting = list(range(len(prompts)))
    free_slots = list(range(max_seqs))
    running = {}  # request -> [slot, position, next token, generated]
    prefill_tokens = decode_tokens = all_tokens = 0
    prefill_s = decode_s = 0.0
    latencies = []
    started = time.perf_counter()
    while waiting or running:
        entries = []  # (token, position, slot, wants logits, request)
        for r, (slot, pos, tok, _) in running.items():
            entries.append((tok, pos, slot, True, r))
        admitted = []
        while waiting and free_slots and len(entries) + len(prompts[waiting[0]]) <= budget:
            r = waiting.pop(0)
            slot = free_slots.pop(0)
            p = prompts[r]
            entries.extend((t, i, slot, i == len(p) - 1, r) for i, t in enumerate(p))
            admitted.append((r, slot))
        for i, (tok, pos, slot, want, _) in enumerate(entries):
            batch.token[i] = tok
            batch.pos[i] = pos
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = slot
            batch.logits[i] = want
        batch.n_tokens = len(entries)
        t0 = time.perf_counter()
        if llama_cpp.llama_decode(ctx, batch) != 0:
            sys.exit(f"llama_decode failed in workload {w['name']}")
        sampled = {}
        for i, (_, _, _, want, r) in enumerate(entries):
            if want:
                logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, i), shape=(n_vocab,))
                sampled[r] = int(np.argmax(logits))
        dt = time.perf_counter() - t0
        latencies.extend([dt * 1000.0] * len(sampled))
        all_tokens += len(entries)
        prompt_in_step = sum(len(prompts[r]) for r, _ in admitted)
        if prompt_in_step:
            prefill_tokens += prompt_in_step
            prefill_s += dt
        else:
            decode_tokens += len(running)
            decode_s += dt
        for r, slot in admitted:
            running[r] = [slot, len(prompts[r]), None, 0]
        for r, tok in sampled.items():
            state = running[r]
            state[2] = tok
            state[3] += 1
            if state[3] > 1:
                state[1] += 1
            if state[3] >= new_tokens[r]:
                llama_cpp.llama_memory_seq_rm(memory, state[0], -1, -1)
                free_slots.append(state[0])
                del running[r]
    wall = time.perf_counter() - started
    llama_cpp.llama_batch_free(batch)
    llama_cpp.llama_free(ctx)
    return {
        "prefill_tok_s": prefill_tokens / max(prefill_s, 1e-9),
        "decode_tok_s": decode_tokens / max(decode_s, 1e-9),
        "total_tok_s": all_tokens / max(wall, 1e-9),
        "token_latency_p50_ms": percentile(latencies, 0.5),
        "token_latency_p99_ms": percentile(latencies, 0.99),
        "peak_rss_mib": peak_memory_mib(),
    }


def main():
    job = json.load(sys.stdin)
    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
    llama_cpp.llama_backend_init()
    model = llama_cpp.llama_model_load_from_file(job["model"].encode(), llama_cpp.llama_model_default_params())
    if not model:
        sys.exit(f"llama.cpp could not load {job['model']}")
    n_vocab = llama_cpp.llama_vocab_n_tokens(llama_cpp.llama_model_get_vocab(model))
    results = {w["name"]: run(model, n_vocab, job["threads"], w) for w in job["workloads"]}
    json.dump({"version": f"llama-cpp-python {llama_cpp.__version__}", "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
