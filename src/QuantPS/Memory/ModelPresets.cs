namespace QuantPS.Memory;

/// <summary>
/// The published shape of a well-known model (its config.json as llama.cpp converts it), so a
/// model can be sized before it is downloaded. A mixture-of-experts model adds its expert count,
/// the experts each token uses and, where the architecture keeps it apart from feed_forward_length,
/// the experts' width and the shared expert's (see <see cref="HypotheticalShape"/>).
/// </summary>
public sealed record ModelPreset(
    string Name, string Architecture, int BlockCount, long EmbeddingLength, int HeadCount, int HeadCountKv,
    int HeadDimension, long FeedForwardLength, long VocabularySize, int ContextLength,
    bool TiedEmbeddings = false, bool AttentionBias = false, int SlidingWindow = 0,
    int ExpertCount = 0, int ExpertUsedCount = 0, long ExpertFeedForwardLength = 0, long SharedExpertFeedForwardLength = 0)
{
    /// <summary>The shape this preset describes.</summary>
    public HypotheticalShape ToShape() => new(Architecture, BlockCount, EmbeddingLength, HeadCount, HeadCountKv, HeadDimension,
        FeedForwardLength, VocabularySize, ContextLength, TiedEmbeddings, AttentionBias, SlidingWindow,
        ExpertCount, ExpertUsedCount, ExpertFeedForwardLength, SharedExpertFeedForwardLength);

    public long ParameterCount => ToShape().ParameterCount;
}

/// <summary>Shapes of common open models, from their published configurations.</summary>
public static class ModelPresets
{
    private static readonly ModelPreset[] Table =
    [
        //   name            arch     layers  n_embd heads kv  head_dim  n_ff   vocab   context
        new("llama-2-7b", "llama", 32, 4096, 32, 32, 128, 11008, 32000, 4096),
        new("llama-2-13b", "llama", 40, 5120, 40, 40, 128, 13824, 32000, 4096),
        new("llama-2-70b", "llama", 80, 8192, 64, 8, 128, 28672, 32000, 4096),
        new("llama-3-8b", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 8192),
        new("llama-3-70b", "llama", 80, 8192, 64, 8, 128, 28672, 128256, 8192),
        new("llama-3.1-8b", "llama", 32, 4096, 32, 8, 128, 14336, 128256, 131072),
        new("llama-3.1-70b", "llama", 80, 8192, 64, 8, 128, 28672, 128256, 131072),
        new("llama-3.2-1b", "llama", 16, 2048, 32, 8, 64, 8192, 128256, 131072, TiedEmbeddings: true),
        new("llama-3.2-3b", "llama", 28, 3072, 24, 8, 128, 8192, 128256, 131072, TiedEmbeddings: true),
        new("mistral-7b", "llama", 32, 4096, 32, 8, 128, 14336, 32000, 32768),
        new("qwen2.5-0.5b", "qwen2", 24, 896, 14, 2, 64, 4864, 151936, 32768, TiedEmbeddings: true, AttentionBias: true),
        new("qwen2.5-7b", "qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 32768, AttentionBias: true),
        new("qwen2.5-14b", "qwen2", 48, 5120, 40, 8, 128, 13824, 152064, 32768, AttentionBias: true),
        new("qwen2.5-72b", "qwen2", 80, 8192, 64, 8, 128, 29568, 152064, 32768, AttentionBias: true),
        new("gemma-2-9b", "gemma2", 42, 3584, 16, 8, 256, 14336, 256000, 8192, TiedEmbeddings: true, SlidingWindow: 4096),

        // Mixtures of experts. n_ff is config.json's intermediate_size: the experts' width for llama
        // (Mixtral) and phimoe; qwen*moe experts are moe_intermediate_size wide (ExpertFeedForwardLength).
        // Mixtral-8x22B: the vocabulary of Instruct-v0.1 and of mistralai's v0.1 (32768; the first
        // community upload of v0.1 has 32000, 0.01 B fewer parameters).
        new("mixtral-8x7b", "llama", 32, 4096, 32, 8, 128, 14336, 32000, 32768, ExpertCount: 8, ExpertUsedCount: 2),
        new("mixtral-8x22b", "llama", 56, 6144, 48, 8, 128, 16384, 32768, 65536, ExpertCount: 8, ExpertUsedCount: 2),
        // Qwen2-57B-A14B: 32768 is the Instruct model's max_position_embeddings (the base config says 131072).
        new("qwen2-57b-a14b", "qwen2moe", 28, 3584, 28, 4, 128, 18944, 151936, 32768, AttentionBias: true,
            ExpertCount: 64, ExpertUsedCount: 8, ExpertFeedForwardLength: 2560, SharedExpertFeedForwardLength: 20480),
        new("qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 6144, 151936, 40960,
            ExpertCount: 128, ExpertUsedCount: 8, ExpertFeedForwardLength: 768),
        new("qwen3-235b-a22b", "qwen3moe", 94, 4096, 64, 4, 128, 12288, 151936, 40960,
            ExpertCount: 128, ExpertUsedCount: 8, ExpertFeedForwardLength: 1536),
        // Phi-3.5-MoE-instruct: LayerNorms and attention with biases, LongRoPE to 131072 (from 4096).
        new("phi-3.5-moe", "phimoe", 32, 4096, 32, 8, 128, 6400, 32064, 131072, AttentionBias: true, ExpertCount: 16, ExpertUsedCount: 2),
    ];

    public static IReadOnlyList<ModelPreset> All { get; } = Array.AsReadOnly(Table);

    public static IReadOnlyList<string> Names { get; } = Table.Select(p => p.Name).ToArray();

    /// <exception cref="MemoryEstimateException">Unknown name (MemoryUnknownPreset).</exception>
    public static ModelPreset Get(string name) =>
        Table.FirstOrDefault(p => string.Equals(p.Name, name?.Trim(), StringComparison.OrdinalIgnoreCase))
        ?? throw new MemoryEstimateException(MemoryErrorIds.UnknownPreset,
            $"'{name}' is not a known model preset. Use one of: {string.Join(", ", Names)}; or give the shape (-BlockCount, -EmbeddingLength, -HeadCountKv, -HeadDimension, -FeedForwardLength, -VocabularySize).");
}
