using QuantPS.Kernels;

namespace QuantPS.Memory;

/// <summary>Memory budgets in bytes; a GPU budget of 0 means no GPU.</summary>
public sealed record MemoryBudget(long SystemMemory, long GpuMemory)
{
    /// <summary>This machine's system memory, and the given GPU memory (none by default: nothing here detects GPUs).</summary>
    public static MemoryBudget Machine(long? systemMemory = null, long? gpuMemory = null) =>
        new(systemMemory ?? MachineMemory.SystemBytes(), gpuMemory ?? 0);
}

/// <summary>Puts weights, KV cache, compute and output buffers on the devices llama.cpp would use.</summary>
public static class MemoryEstimator
{
    /// <exception cref="MemoryEstimateException">Bad settings, or a cache type llama.cpp would refuse for this model.</exception>
    public static LlmMemoryEstimate Estimate(MemoryModel model, MemorySettings settings, MemoryBudget budget, bool perLayer = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(budget);
        settings.Validate();
        var shape = model.Shape;
        bool fa = KvCacheSize.ResolveFlashAttention(settings.FlashAttention);
        KvCacheSize.Check(shape, settings.KvCacheType, fa);

        int requested = settings.ContextLength is > 0 and int c ? c : shape.ContextLength;
        if (requested <= 0)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidSetting, $"{model.Name} does not say its context length: give -ContextLength.");
        }

        var (ctx, perSeq) = KvCacheSize.PadContext(requested, settings.Parallel);
        // llama_context: with causal attention n_batch is capped by n_ctx, n_ubatch by n_batch.
        int batch = Math.Min(ctx, settings.BatchSize);
        int ubatch = Math.Min(batch, settings.UBatchSize);

        int offloadable = shape.BlockCount + 1;
        int ngl = settings.GpuLayers < 0 ? offloadable : Math.Min(settings.GpuLayers, offloadable);
        int gpuStart = offloadable - ngl; // llama.cpp's i_gpu_start: layers il >= it (the output layer is il = n_layer)
        bool OnGpu(int layer) => layer >= 0 && layer >= gpuStart;
        bool outputOnGpu = OnGpu(shape.BlockCount);

        var layerWeights = new long[shape.BlockCount + 2]; // [0] input, [1..n] blocks, [n+1] output
        foreach (var t in model.Tensors)
        {
            int layer = MemoryModel.LayerOf(t.Name, shape.BlockCount);
            layerWeights[Math.Clamp(layer, -1, shape.BlockCount) + 1] += t.Bytes;
        }

        // A model without output.weight reuses token_embd for the logits; llama.cpp loads that
        // duplicate on the output layer's device, so an offloaded output layer carries it.
        long duplicated = 0;
        if (outputOnGpu && !model.Tensors.Any(t => t.Name == "output.weight"))
        {
            duplicated = model.Tensors.FirstOrDefault(t => t.Name == "token_embd.weight")?.Bytes ?? 0;
        }

        var cache = KvCacheSize.Layers(shape, settings.KvCacheType, perSeq, settings.Parallel, ubatch, fa);
        long weightsCpu = layerWeights[0], weightsGpu = duplicated, kvCpu = 0, kvGpu = 0, keys = 0, values = 0;
        var layers = perLayer ? new List<LlmLayerMemory>(shape.BlockCount + 2) : null;
        layers?.Add(new LlmLayerMemory("input", -1, MemoryDevice.Cpu, layerWeights[0], 0, 0, 0));
        for (int il = 0; il <= shape.BlockCount; il++)
        {
            bool gpu = OnGpu(il);
            long w = layerWeights[il + 1] + (il == shape.BlockCount ? duplicated : 0);
            if (gpu) weightsGpu += layerWeights[il + 1];
            else weightsCpu += layerWeights[il + 1];
            var lc = il < shape.BlockCount ? cache[il] : default;
            keys += lc.KeyBytes;
            values += lc.ValueBytes;
            if (gpu && settings.OffloadKv) kvGpu += lc.KeyBytes + lc.ValueBytes;
            else kvCpu += lc.KeyBytes + lc.ValueBytes;
            layers?.Add(new LlmLayerMemory(il < shape.BlockCount ? $"blk.{il}" : "output", il, gpu ? MemoryDevice.Gpu : MemoryDevice.Cpu, w, lc.KeyBytes, lc.ValueBytes, lc.Cells));
        }

        var computeTerms = ComputeBufferSize.Parts(shape, perSeq, settings.Parallel, ubatch, fa, settings.KvCacheType == GgmlType.F32);
        var (computeCpu, computeGpu) = ComputeBufferSize.Split(computeTerms, shape, ngl);
        long parameters = model.ParameterCount;
        return new LlmMemoryEstimate
        {
            Model = model.Name,
            Architecture = shape.Architecture,
            Type = model.Type,
            IsHypothetical = model.IsHypothetical,
            ParameterCount = parameters,
            BitsPerWeight = parameters == 0 ? 0 : model.WeightBytes * 8.0 / parameters,
            FileSize = model.FileSize,
            ContextLength = ctx,
            ContextPerSequence = perSeq,
            BatchSize = batch,
            UBatchSize = ubatch,
            Parallel = settings.Parallel,
            KvCacheType = settings.KvCacheType.ToString(),
            FlashAttention = fa,
            GpuLayers = ngl,
            OffloadableLayers = offloadable,
            WeightsCpu = weightsCpu,
            WeightsGpu = weightsGpu,
            KvCacheCpu = kvCpu,
            KvCacheGpu = kvGpu,
            KeyCache = keys,
            ValueCache = values,
            ComputeBuffersCpu = computeCpu,
            ComputeBuffersGpu = computeGpu,
            OutputBuffer = OutputBytes(shape, settings.Parallel),
            SystemMemory = budget.SystemMemory,
            GpuMemory = budget.GpuMemory,
            Layers = layers,
        };
    }

    /// <summary>llama_context::output_reserve at creation: logits for n_seq_max outputs (F32).</summary>
    public static long OutputBytes(ModelShape shape, int parallel) => shape.VocabularySize * parallel * sizeof(float);
}
