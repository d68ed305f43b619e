namespace QuantPS.Memory;

/// <summary>Where a part of the model lives.</summary>
public enum MemoryDevice
{
    Cpu,
    Gpu,
}

/// <summary>One layer's share: its weights and KV cache, and the device llama.cpp assigns it.</summary>
public sealed record LlmLayerMemory(string Layer, int Index, MemoryDevice Device, long Weights, long KeyCache, long ValueCache, int CacheCells)
{
    public long KvCache => KeyCache + ValueCache;

    public long Total => Weights + KvCache;
}

/// <summary>
/// What llama.cpp allocates to run a model with given settings, in bytes, split into system (CPU)
/// and GPU memory, and whether that fits the budgets.
/// </summary>
public sealed class LlmMemoryEstimate
{
    public required string Model { get; init; }

    public required string Architecture { get; init; }

    /// <summary>The quantization type (the file's, or the one planned for a hypothetical model).</summary>
    public required string Type { get; init; }

    /// <summary>True when the figures come from a shape, not a file.</summary>
    public bool IsHypothetical { get; init; }

    public long ParameterCount { get; init; }

    /// <summary>Weight bits per parameter (all tensors).</summary>
    public double BitsPerWeight { get; init; }

    /// <summary>The file's size (for a hypothetical model: what ConvertTo-Quantized would write, tokenizer not included).</summary>
    public long FileSize { get; init; }

    /// <summary>n_ctx after llama.cpp's padding (a multiple of 256, and of -Parallel).</summary>
    public int ContextLength { get; init; }

    /// <summary>Cells per sequence (n_ctx_seq).</summary>
    public int ContextPerSequence { get; init; }

    public int BatchSize { get; init; }

    public int UBatchSize { get; init; }

    public int Parallel { get; init; }

    public required string KvCacheType { get; init; }

    /// <summary>Whether flash attention is on (Auto resolves to on, as on llama.cpp's CPU backend).</summary>
    public bool FlashAttention { get; init; }

    public int GpuLayers { get; init; }

    /// <summary>n_layer + 1: the repeating layers and the output layer, what -GpuLayers counts.</summary>
    public int OffloadableLayers { get; init; }

    public long Weights => WeightsCpu + WeightsGpu;

    public long WeightsCpu { get; init; }

    public long WeightsGpu { get; init; }

    public long KvCache => KvCacheCpu + KvCacheGpu;

    public long KvCacheCpu { get; init; }

    public long KvCacheGpu { get; init; }

    public long KeyCache { get; init; }

    public long ValueCache { get; init; }

    public long ComputeBuffers => ComputeBuffersCpu + ComputeBuffersGpu;

    public long ComputeBuffersCpu { get; init; }

    public long ComputeBuffersGpu { get; init; }

    /// <summary>The logits buffer (system memory): n_vocab floats per sequence at first.</summary>
    public long OutputBuffer { get; init; }

    public long Cpu => WeightsCpu + KvCacheCpu + ComputeBuffersCpu + OutputBuffer;

    public long Gpu => WeightsGpu + KvCacheGpu + ComputeBuffersGpu;

    public long Total => Cpu + Gpu;

    /// <summary>System memory budget in bytes (default: this machine's).</summary>
    public long SystemMemory { get; init; }

    /// <summary>GPU memory budget in bytes (0: no GPU).</summary>
    public long GpuMemory { get; init; }

    public bool Fits => Cpu <= SystemMemory && Gpu <= GpuMemory;

    /// <summary>Per-layer detail (input, blk.0 … blk.N-1, output), filled on request.</summary>
    public IReadOnlyList<LlmLayerMemory>? Layers { get; init; }

    public override string ToString() => $"{Model}: {Total} bytes ({Type}, n_ctx {ContextLength})";
}
