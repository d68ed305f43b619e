namespace QuantPS.Inference.Engine;

/// <summary>How an <see cref="InferenceContext"/> is sized and run; defaults follow llama.cpp's.</summary>
public sealed record ContextOptions
{
    /// <summary>llama.cpp's default n_ctx when the model's own is larger.</summary>
    public const int DefaultContextLength = 4096;

    /// <summary>Positions the KV cache holds; 0 = the model's trained context, at most <see cref="DefaultContextLength"/>.</summary>
    public int ContextLength { get; init; }

    /// <summary>Threads sharing each matmul, the caller's included; 0 = one per logical processor.</summary>
    public int Threads { get; init; }

    public KvCacheType KvCacheType { get; init; } = KvCacheType.F16;

    /// <summary>Flash attention (llama.cpp resolves "auto" to on for the CPU); off needs an F16 or F32 cache.</summary>
    public bool FlashAttention { get; init; } = true;

    /// <summary>Most tokens per forward pass (llama.cpp's n_ubatch); longer inputs are split.</summary>
    public int BatchSize { get; init; } = 512;

    /// <summary>
    /// Sliding-window layers cache every position (llama.cpp's --swa-full) instead of window + batch in a ring: more
    /// memory on gemma2 at long contexts, and what <see cref="InferenceContext.Shift"/> needs.
    /// </summary>
    public bool FullSlidingWindowCache { get; init; }

    /// <summary>
    /// llama.cpp's attention rotation (attn_rot_k / attn_rot_v, on by default there; LLAMA_ATTN_ROT_DISABLE=1 turns it
    /// off): with a quantized (Q8_0) cache and heads a multiple of 64 values, Q and K, and V, go through a Walsh-Hadamard
    /// rotation before the cache and the attention output back through it, so the quantization error spreads evenly.
    /// </summary>
    public bool RotateQuantizedCache { get; init; } = true;
}
