"""The peer side of `hearth bench --peer transformers`: Hugging Face transformers runs
the workloads hearth ran, on a model of the same shapes, with the same prompt token
ids, through batched `generate`, and reports the same figures.

hearth embeds this file and runs it with a Python that has torch and transformers
(`--peer-python`; on the GPU machine the one that has them installed).

stdin: {"config": config.json as a dict, or "model_dir": a Hugging Face directory,
        "dtype": "bfloat16" | "float16" | "float32", "device": "cpu" | "cuda:N",
        "threads": N, "workloads": [{"name", "prompts": [[ids]], "new_tokens": [n],
        "max_seqs": M}]}
stdout: {"version": ..., "results": {name: {"prefill_tok_s", "decode_tok_s",
        "total_tok_s", "token_latency_p50_ms", "token_latency_p99_ms", "peak_rss_mib",
        "peak_device_mib", "wave"}}}

A synthetic preset's weights are random (drawn on the device: a 32B model is never
built in host memory); speed does not depend on the values. transformers batches
statically: requests run in waves of at most M, each wave left-padded to its longest
prompt and generating until its longest answer is done. A wave that does not fit in
device memory is retried at half the size ("wave" reports the size that ran). EOS is
never set, so every answer has its full length; greedy.

Figures are counted as hearth counts them, from the requests' own tokens (padding and
tokens past a request's length are work transformers does, not tokens it delivers):
prefill tok/s is the prompt tokens over the time until each wave's first logits;
decode tok/s the tokens after each request's first over the rest of its wave's time;
total tok/s all of them over the waves' time. Each step's end is taken in a logits
processor after synchronizing the device.
"""
import json
import sys
import time

import torch
import transformers


def percentile(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


class StepClock(transformers.LogitsProcessor):
    """Records when each generation step's logits are ready."""

    def __init__(self, device):
        self.device = device
        self.times = []

    def __call__(self, input_ids, scores):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self.times.append(time.perf_counter())
        return scores


def build(job, device, dtype):
    if "model_dir" in job:
        kwargs = {"dtype": dtype}
        try:
            model = transformers.AutoModelForCausalLM.from_pretrained(job["model_dir"], **kwargs)
        except TypeError:  # transformers before 4.56 names it torch_dtype
            model = transformers.AutoModelForCausalLM.from_pretrained(job["model_dir"], torch_dtype=dtype)
        return model.to(device)
    fields = dict(job["config"])
    config = transformers.AutoConfig.for_model(fields.pop("model_type"), **fields)
    torch.manual_seed(0)
    with device:
        try:
            model = transformers.AutoModelForCausalLM.from_config(config, dtype=dtype)
        except TypeError:
            model = transformers.AutoModelForCausalLM.from_config(config, torch_dtype=dtype)
    return model


def generate_wave(model, device, prompts, new_tokens):
    width = max(len(p) for p in prompts)
    # Left padding, so every prompt's last token is the last position.
    ids = torch.zeros((len(prompts), width), dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p):] = 1
    ids, mask = ids.to(device), mask.to(device)
    clock = StepClock(device)
    config = transformers.GenerationConfig(
        do_sample=False, max_new_tokens=max(new_tokens), min_new_tokens=None, eos_token_id=None, pad_token_id=0
    )
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    with torch.inference_mode():
        model.generate(input_ids=ids, attention_mask=mask, generation_config=config, logits_processor=[clock])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return started, clock.times, time.perf_counter()


def run(model, device, w):
    prompts, new_tokens = w["prompts"], w["new_tokens"]
    wave = w["max_seqs"]
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    prefill_tokens = decode_tokens = 0
    prefill_s = decode_s = wall_s = 0.0
    latencies = []
    start = 0
    while start < len(prompts):
        members = range(start, min(start + wave, len(prompts)))
        try:
            began, steps, ended = generate_wave(model, device, [prompts[i] for i in members], [new_tokens[i] for i in members])
        except torch.cuda.OutOfMemoryError:
            if wave == 1:
                raise
            wave //= 2
            torch.cuda.empty_cache()
            continue
        prefill_tokens += sum(len(prompts[i]) for i in members)
        prefill_s += steps[0] - began
        decode_tokens += sum(new_tokens[i] - 1 for i in members)
        decode_s += steps[-1] - steps[0]
        wall_s += ended - began
        # A request's token waits for its whole step; steps past its length are not its.
        ends = [began] + steps
        for i in members:
            latencies.extend((ends[k + 1] - ends[k]) * 1000.0 for k in range(new_tokens[i]))
        start = members.stop
    figures = {
        "prefill_tok_s": prefill_tokens / max(prefill_s, 1e-9),
        "decode_tok_s": decode_tokens / max(decode_s, 1e-9),
        "total_tok_s": (prefill_tokens + decode_tokens) / max(wall_s, 1e-9),
        "token_latency_p50_ms": percentile(latencies, 0.5),
        "token_latency_p99_ms": percentile(latencies, 0.99),
        "peak_rss_mib": peak_rss_mib(),
        "wave": float(wave),
    }
    if device.type == "cuda":
        figures["peak_device_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    return figures


def main():
    job = json.load(sys.stdin)
    device = torch.device(job["device"])
    if device.type == "cpu":
        torch.set_num_threads(job["threads"])
    model = build(job, device, getattr(torch, job["dtype"]))
    model.eval()
    # One short generation first: the device's one-time costs (kernel loading, cuBLAS
    # handles, allocator growth) are not the first workload's.
    generate_wave(model, device, [list(range(1, 9))], [2])
    results = {w["name"]: run(model, device, w) for w in job["workloads"]}
    version = f"transformers {transformers.__version__}, torch {torch.__version__}"
    json.dump({"version": version, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
