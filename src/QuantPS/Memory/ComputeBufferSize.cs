namespace QuantPS.Memory;

/// <summary>
/// An estimate of the compute buffer llama.cpp reserves (sched_reserve: ggml-alloc's peak over the
/// worst-case graph of one ubatch against a full cache).
/// </summary>
/// <remarks>
/// How the formula was derived. ggml-alloc gives each graph tensor memory from when it is made to
/// its last use, so the buffer is the peak of what is alive at once. In a llama-style graph for T =
/// n_ubatch tokens (n_ubatch is capped by n_batch, itself capped by n_ctx) against n_kv cache cells:
/// <list type="bullet">
/// <item>the KQ mask, an input every layer reads, stays alive through all layers: n_kv · T halves
/// (F16 with flash attention, F32 without). It is the term that grows with the context.</item>
/// <item>the feed-forward step holds the residual and its norm (2 · n_embd), gate, up and their
/// product (3 · n_ff) per token; what the golden table measures beyond that is about half an
/// n_embd row per token of allocator slack (tensors freed out of order leave holes), so the step
/// is counted as 3.5 · n_embd + 3 · n_ff floats per token.</item>
/// <item>the attention step holds the residual, norm, Q (n_head · head_dim), K and V rows and
/// the attention output: 3 · n_embd + n_q + n_k + n_v floats per token. With flash attention an
/// F32 cache is cast to F16 for the kernel (n_kv · (n_k + n_v) halves); without it the scores
/// n_kv · T · n_head are F32.</item>
/// <item>after the last layer the mask is freed and the logits (n_vocab floats per token) with
/// the final norm (2 · n_embd) are alive.</item>
/// </list>
/// Buffer = max(mask + max(feed-forward, attention), output). Against the 18 rows of
/// ../shared/golden/memory (stories260K and synth-256, n_ctx 256..8192, F32/F16/Q8_0/Q4_0 caches,
/// flash attention on) it is within 10% (the test pins it). Without flash attention the formula
/// follows the same reasoning but has no golden rows to check it.
/// </remarks>
public static class ComputeBufferSize
{
    private const int Float = 4;
    private const int Half = 2;

    /// <summary>The CPU compute buffer of a model run entirely on the CPU.</summary>
    public static long Estimate(ModelShape shape, int contextPerSequence, int parallel, int ubatch, bool flashAttention, bool f32Cache)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long t = ubatch;
        // One KV stream per sequence: the mask and scores are [n_kv, T / streams, ·, streams] over
        // one stream's cells, the F16 casts of an F32 cache cover every stream.
        long streamCells = contextPerSequence;
        long kvCells = (long)contextPerSequence * parallel;
        long embd = shape.EmbeddingLength, ff = shape.FeedForwardLength;
        long kw = Enumerable.Range(0, shape.BlockCount).Select(shape.KeyWidth).DefaultIfEmpty(0).Max();
        long vw = shape.MaxValueWidth;

        long mask = streamCells * t * (flashAttention ? Half : Float);
        if (shape.SlidingWindow > 0)
        {
            // llama_kv_cache_iswa builds a second mask over the sliding-window cells.
            long swaCells = KvCacheSize.Pad(Math.Min(contextPerSequence, (long)shape.SlidingWindow + ubatch), KvCacheSize.ContextPadding);
            mask += swaCells * t * (flashAttention ? Half : Float);
        }

        long feedForward = t * Float * (embd * 7 / 2 + 3 * ff);
        long attention = t * Float * (3 * embd + shape.QueryWidth + kw + vw);
        if (flashAttention)
        {
            if (f32Cache) attention += kvCells * (kw + vw) * Half;
        }
        else
        {
            attention += streamCells * t * shape.HeadCount * Float;
        }

        long output = t * Float * (shape.VocabularySize + 2 * embd);
        return Math.Max(mask + Math.Max(feedForward, attention), output);
    }

    /// <summary>
    /// With layers offloaded the graph runs on the GPU, which reserves the same graph; the CPU keeps
    /// the inputs (token embeddings are looked up on the CPU) and, when the output layer stays there,
    /// the logits. No GPU here to measure it: an approximation.
    /// </summary>
    public static (long Cpu, long Gpu) Split(long full, ModelShape shape, int ubatch, int gpuLayers, bool outputOnGpu)
    {
        if (gpuLayers == 0) return (full, 0);
        long t = ubatch;
        long cpu = t * Float * shape.EmbeddingLength + (outputOnGpu ? 0 : t * Float * (shape.VocabularySize + 2 * shape.EmbeddingLength));
        return (Math.Min(cpu, full), full);
    }
}
