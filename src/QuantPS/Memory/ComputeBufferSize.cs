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
/// <item>a mixture-of-experts layer (build_moe_ffn: router, top-k, then gate, up and down of
/// n_expert_used experts n_ff_exp wide) replaces that step; see <see cref="ExpertStepPerToken"/>.</item>
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
/// follows the same reasoning but has no golden rows to check it; for mixture-of-experts models it
/// is within 10% of the rows MoeMemoryTests pins, flash attention on and off.
/// </remarks>
public static class ComputeBufferSize
{
    private const int Float = 4;
    private const int Half = 2;

    /// <summary>The CPU compute buffer of a model run entirely on the CPU.</summary>
    public static long Estimate(ModelShape shape, int contextPerSequence, int parallel, int ubatch, bool flashAttention, bool f32Cache) =>
        Parts(shape, contextPerSequence, parallel, ubatch, flashAttention, f32Cache).Whole;

    /// <summary>The terms of the buffer: the mask alive through the layers, the larger layer step, the output step.</summary>
    public readonly record struct Terms(long Mask, long LayerStep, long Output, long InputRows, long GpuLayerStep, long GpuOutput)
    {
        public long Whole => Math.Max(Mask + LayerStep, Output);
    }

    public static Terms Parts(ModelShape shape, int contextPerSequence, int parallel, int ubatch, bool flashAttention, bool f32Cache)
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

        bool moe = shape.IsMixtureOfExperts;
        long feedForward = t * Float * (moe ? ExpertStepPerToken(shape) : embd * 7 / 2 + 3 * ff);
        long attention = t * Float * (3 * embd + shape.QueryWidth + kw + vw);
        if (flashAttention)
        {
            if (f32Cache) attention += kvCells * (kw + vw) * Half;
        }
        else
        {
            attention += streamCells * t * shape.HeadCount * Float;
        }

        // The GPU's allocator packs the same graph without the CPU's slack: half an n_embd row per
        // token less in the feed-forward step, a whole one less in the output step. (The expert
        // step counts no slack, and has not been measured on a GPU: it is kept whole.)
        return new Terms(mask, Math.Max(feedForward, attention),
            Output: t * Float * (shape.VocabularySize + 2 * embd),
            InputRows: t * Float * embd,
            GpuLayerStep: Math.Max(moe ? feedForward : feedForward - t * Float * embd / 2, attention),
            GpuOutput: t * Float * (shape.VocabularySize + embd));
    }

    /// <summary>
    /// The floats per token a mixture-of-experts layer holds at its peak: ggml-alloc's high-water mark
    /// in build_moe_ffn, traced with GGML_ALLOCATOR_DEBUG on llama-moe and qwen3moe shapes. In buffer
    /// order:
    /// <list type="bullet">
    /// <item>the looked-up token embeddings (n_embd), an input kept through the graph;</item>
    /// <item>two holes the attention step leaves: its norm's row (n_embd) and the query / attention
    /// output (n_q = n_head · head_dim, at least n_embd). The router's small tensors — logits and
    /// probabilities (n_expert), the top-k ids (an argsort of n_expert) and the normalised weights
    /// (n_expert_used) — live from the router to the weighted sum inside that hole, so the experts
    /// cannot reuse it;</item>
    /// <item>the residual the layer adds back (n_embd);</item>
    /// <item>gate and up of every used expert, then their SwiGLU product: 3 · n_expert_used · n_ff_exp
    /// (mul_mat_id computes only the selected experts). The experts' down outputs (n_expert_used ·
    /// n_embd) take the freed gate and up rows when they fit (n_embd ≤ 2 · n_ff_exp), else they land
    /// after the product and add to the peak. The weighting multiplies in place; the sums of the
    /// experts' outputs (n_embd each) fit the holes;</item>
    /// <item>except that a product no wider than n_embd (n_expert_used · n_ff_exp ≤ n_embd) goes into
    /// the hole the feed-forward norm leaves, and the experts then take max(2 · n_expert_used ·
    /// n_ff_exp, n_expert_used · n_embd).</item>
    /// </list>
    /// That is 3 · n_embd + max(n_embd, n_q) + the experts' rows: to a few floats of small inputs what
    /// llama.cpp (3f545bec) reserves with an F16 cache and flash attention on the shapes MoeMemoryTests
    /// pins (n_embd 256..1024, 4..128 experts, 1..16 used, n_ff_exp 128..3584; n_ctx 256..4096,
    /// n_ubatch 32..512). Two layouts differ: a query narrower than n_embd leaves a larger hole in
    /// the last layer (where the freed mask has moved things), and an F32 or quantized cache (casts,
    /// rotation inputs) packs the attention step so that the holes come out up to an n_embd row
    /// smaller or larger. An eighth of a row is taken off to split those: F16 rows within 6%, every
    /// pinned row (F32 and Q8_0 caches, flash attention off) within 10%.
    /// </summary>
    public static long ExpertStepPerToken(ModelShape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long embd = shape.EmbeddingLength;
        long product = shape.ExpertUsedCount * shape.ExpertFeedForwardLength;
        long outputs = shape.ExpertUsedCount * embd;
        long experts = product <= embd
            ? Math.Max(2 * product, outputs)
            : 3 * product + (outputs > 2 * product ? outputs : 0);
        return 3 * embd - embd / 8 + Math.Max(embd, shape.QueryWidth) + experts;
    }

    /// <summary>
    /// The compute buffers with <paramref name="gpuLayers"/> offloaded (llama.cpp's order: the output
    /// layer first, then the repeating layers back to front). Measured with llama-fit-params
    /// -fitp on against an RPC device (rpc-server's CPU backend, which llama.cpp treats as a GPU),
    /// on a TinyLlama-shaped F16 model and synth-256 at -ngl 0..n_layer+1:
    /// <list type="bullet">
    /// <item>the GPU reserves the layer step over the mask when it holds a repeating layer, and the
    /// logits step: the larger of the two. Its allocator keeps half an n_embd row per token less
    /// in the feed-forward step and a whole one less in the logits step than the CPU's (TinyLlama
    /// shape: 66.5 MiB against 70.5 at n_ctx 2048, 77.0 at 32768);</item>
    /// <item>the CPU keeps the whole layer step over the mask while any repeating layer stays there;
    /// with every layer offloaded, only the mask and two n_embd rows per token (the looked-up token
    /// embeddings and their copy): 10.0 MiB for the TinyLlama shape, 5.0 for synth-256.</item>
    /// </list>
    /// Within 10% of every measured figure but synth-256's GPU at -ngl 2 (6.0 MiB measured, 8.5 here:
    /// one repeating layer reserves less than the full step).
    /// </summary>
    public static (long Cpu, long Gpu) Split(Terms terms, ModelShape shape, int gpuLayers)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (gpuLayers <= 0) return (terms.Whole, 0);
        int repeatingOnGpu = Math.Min(gpuLayers - 1, shape.BlockCount);
        long gpu = Math.Max(repeatingOnGpu > 0 ? terms.Mask + terms.GpuLayerStep : 0, terms.GpuOutput);
        long cpu = repeatingOnGpu < shape.BlockCount ? terms.Mask + terms.LayerStep : terms.Mask + 2 * terms.InputRows;
        return (cpu, gpu);
    }
}
