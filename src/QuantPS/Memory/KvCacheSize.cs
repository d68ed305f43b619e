using QuantPS.Kernels;

namespace QuantPS.Memory;

/// <summary>The KV cache of one layer: cells, and the bytes of its K and V tensors.</summary>
public readonly record struct LayerCache(int Cells, long KeyBytes, long ValueBytes);

/// <summary>
/// llama.cpp's KV cache sizing (llama_context's n_ctx padding, llama_kv_cache and
/// llama_kv_cache_iswa constructors, the cache-type checks of llama_init_from_model).
/// </summary>
public static class KvCacheSize
{
    /// <summary>GGML_PAD of n_ctx and n_ctx_seq in llama_context.</summary>
    public const int ContextPadding = 256;

    /// <summary>ggml's CPU buffer alignment (TENSOR_ALIGNMENT): every tensor of a buffer starts on it.</summary>
    public const int TensorAlignment = 32;

    /// <summary>n_ctx and n_ctx_seq as llama_context computes them (not unified: one stream per sequence).</summary>
    public static (int Context, int PerSequence) PadContext(int requested, int parallel)
    {
        long ctx = Pad(requested, ContextPadding);
        long perSeq = Pad(ctx / parallel, ContextPadding);
        if (perSeq == 0)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidSetting, "The context per sequence is 0: raise -ContextLength or lower -Parallel.");
        }

        long total = perSeq * parallel;
        if (total > int.MaxValue)
        {
            throw new MemoryEstimateException(MemoryErrorIds.InvalidSetting, $"A context of {total} cells is over llama.cpp's 32-bit limit.");
        }

        return ((int)total, (int)perSeq);
    }

    /// <summary>Whether flash attention ends up on: Auto is on (CPU supports it, and a quantized V cache needs it).</summary>
    public static bool ResolveFlashAttention(FlashAttentionMode mode) => mode != FlashAttentionMode.Disabled;

    /// <summary>
    /// The refusals of llama_init_from_model: a quantized V cache without flash attention, and a
    /// quantized cache whose block does not divide the head dimension (stories260K's head dim 8
    /// with q8_0's blocks of 32).
    /// </summary>
    /// <exception cref="MemoryEstimateException">MemoryKvTypeNeedsFlashAttention or MemoryKvTypeIncompatible.</exception>
    public static void Check(ModelShape shape, GgmlType type, bool flashAttention)
    {
        var info = GgmlTypeTraits.Get(type);
        if (!info.IsQuantized) return;
        if (!flashAttention)
        {
            throw new MemoryEstimateException(MemoryErrorIds.KvTypeNeedsFlashAttention,
                $"A quantized V cache ({info.GgmlName}) requires flash attention; llama.cpp refuses it with flash attention disabled. Use -FlashAttention Auto or Enabled, or an F16 cache.");
        }

        foreach (var (what, dim) in new[] { ("n_embd_head_k", shape.HeadDimensionK), ("n_embd_head_v", shape.HeadDimensionV) })
        {
            if (dim % info.BlockSize != 0)
            {
                throw new MemoryEstimateException(MemoryErrorIds.KvTypeIncompatible,
                    $"{(what.EndsWith('k') ? "K" : "V")} cache type {info.GgmlName} with block size {info.BlockSize} does not divide {what}={dim}: " +
                    $"llama.cpp cannot create this context. Use F16, BF16 or F32 (or a type whose block divides {dim}).");
            }
        }
    }

    /// <summary>
    /// Each layer's cache: K is [n_embd_k_gqa(il), cells, streams]; V is the same with
    /// n_embd_v_gqa(il), or the widest layer's width when V is stored transposed (no flash
    /// attention). Sliding-window layers keep PAD(min(n_ctx_seq, n_swa + n_ubatch), 256) cells;
    /// layers without KV heads keep none.
    /// </summary>
    public static LayerCache[] Layers(ModelShape shape, GgmlType type, int perSequence, int parallel, int ubatch, bool flashAttention)
    {
        var info = GgmlTypeTraits.Get(type);
        int swaCells = shape.SlidingWindow > 0 ? (int)Pad(Math.Min(perSequence, (long)shape.SlidingWindow + ubatch), ContextPadding) : 0;
        var result = new LayerCache[shape.BlockCount];
        for (int il = 0; il < shape.BlockCount; il++)
        {
            if (shape.HeadCountKv[il] == 0) continue;
            int cells = shape.IsSliding(il) ? swaCells : perSequence;
            long vWidth = flashAttention ? shape.ValueWidth(il) : shape.MaxValueWidth;
            long k = Align(info.RowSizeBytes(shape.KeyWidth(il)) * cells * parallel);
            long v = Align(info.RowSizeBytes(vWidth) * cells * parallel);
            result[il] = new LayerCache(cells, k, v);
        }

        return result;
    }

    internal static long Pad(long value, long multiple) => (value + multiple - 1) / multiple * multiple;

    internal static long Align(long bytes) => Pad(bytes, TensorAlignment);
}
