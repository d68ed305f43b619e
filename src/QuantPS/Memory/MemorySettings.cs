using QuantPS.Kernels;

namespace QuantPS.Memory;

/// <summary>llama.cpp's flash_attn_type: Auto resolves to enabled on the CPU backend.</summary>
public enum FlashAttentionMode
{
    Auto,
    Enabled,
    Disabled,
}

/// <summary>The context llama.cpp would be asked for; defaults are llama.cpp's (llama_context_default_params, common_params).</summary>
public sealed record MemorySettings
{
    /// <summary>n_ctx; null or 0 means the model's training context (llama.cpp's n_ctx = 0).</summary>
    public int? ContextLength { get; init; }

    /// <summary>n_batch (logical batch); llama.cpp's default 2048.</summary>
    public int BatchSize { get; init; } = 2048;

    /// <summary>n_ubatch (physical batch: what the compute graph holds); default 512.</summary>
    public int UBatchSize { get; init; } = 512;

    /// <summary>n_seq_max: parallel sequences, each with its own KV stream.</summary>
    public int Parallel { get; init; } = 1;

    /// <summary>type_k and type_v.</summary>
    public GgmlType KvCacheType { get; init; } = GgmlType.F16;

    public FlashAttentionMode FlashAttention { get; init; } = FlashAttentionMode.Auto;

    /// <summary>n_gpu_layers: the last N of the n_layer + 1 offloadable layers (the output layer counts first); -1 means all.</summary>
    public int GpuLayers { get; init; }

    /// <summary>KV cache of offloaded layers on the GPU (llama.cpp's offload_kqv, default true).</summary>
    public bool OffloadKv { get; init; } = true;

    /// <summary>The KV cache types llama.cpp accepts for -ctk/-ctv.</summary>
    public static IReadOnlyList<GgmlType> KvCacheTypes { get; } =
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL];

    /// <exception cref="MemoryEstimateException">MemoryKvTypeNotSupported or MemoryInvalidSetting.</exception>
    public void Validate()
    {
        if (!KvCacheTypes.Contains(KvCacheType))
        {
            throw new MemoryEstimateException(MemoryErrorIds.KvTypeNotSupported,
                $"{KvCacheType} is not a KV cache type llama.cpp accepts. Use one of: {string.Join(", ", KvCacheTypes)}.");
        }

        void AtLeast(long v, long min, string name)
        {
            if (v < min)
            {
                throw new MemoryEstimateException(MemoryErrorIds.InvalidSetting, $"{name} must be at least {min} (got {v}).");
            }
        }

        AtLeast(ContextLength ?? 0, 0, "-ContextLength");
        AtLeast(BatchSize, 1, "-BatchSize");
        AtLeast(UBatchSize, 1, "-UBatchSize");
        AtLeast(Parallel, 1, "-Parallel");
        AtLeast(GpuLayers, -1, "-GpuLayers");
        if (Parallel > 256)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidSetting, $"-Parallel {Parallel} is over llama.cpp's LLAMA_MAX_SEQ (256).");
        }
    }
}
