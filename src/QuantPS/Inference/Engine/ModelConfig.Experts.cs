namespace QuantPS.Inference.Engine;

/// <summary>
/// The mixture-of-experts settings (llama.cpp's n_expert, n_expert_used, n_ff_exp, n_ff_shexp): a llama file with
/// expert_count (Mixtral's), every qwen3moe, qwen2moe and phimoe file replace each layer's feed-forward block by a router
/// over <see cref="ExpertCount"/> experts, of which the <see cref="ExpertsUsed"/> most probable run for each token;
/// qwen2moe adds a shared expert every token runs through.
/// </summary>
public sealed partial record ModelConfig
{
    /// <summary>llama.cpp's LLAMA_MAX_EXPERTS: its loader asserts expert_count is no larger.</summary>
    public const int MaxExperts = 1024;

    /// <summary>Experts per layer (expert_count); 0 for a dense model.</summary>
    public int ExpertCount { get; init; }

    /// <summary>Experts each token runs through (expert_used_count); 0 for a dense model.</summary>
    public int ExpertsUsed { get; init; }

    /// <summary>
    /// Feed-forward width of one expert: llama's and phimoe's experts are <see cref="FeedForwardLength"/> wide; qwen2moe's
    /// and qwen3moe's expert_feed_forward_length, else feed_forward_length / expert_used_count (as llama.cpp); 0 for a
    /// dense model.
    /// </summary>
    public int ExpertFeedForwardLength { get; init; }

    /// <summary>Whether every layer's feed-forward block is a mixture of experts.</summary>
    public bool IsMixtureOfExperts => ExpertCount > 0;

    /// <summary>
    /// Whether the chosen experts' probabilities are divided by their sum (build_moe_ffn's norm_w): llama and qwen3moe
    /// do; qwen2moe weighs each expert by its softmax probability as it is.
    /// </summary>
    public bool NormalizeExpertWeights { get; init; } = true;

    /// <summary>
    /// qwen2moe's shared expert: a SwiGLU block this wide (expert_shared_feed_forward_length, else feed_forward_length)
    /// that every token runs through, scaled by the sigmoid of its own gate; 0 when there is none.
    /// </summary>
    public int SharedExpertFeedForwardLength { get; init; }

    private static ModelConfig WithExperts(ModelConfig config, KeyReader reader)
    {
        var arch = config.Architecture;
        var moeArchitecture = arch is "qwen3moe" or "qwen2moe" or "phimoe";
        var count = reader.Int("expert_count", min: 0, fallback: 0);
        var used = reader.Int("expert_used_count", min: 0, fallback: 0);
        if (count > MaxExperts)
        {
            throw reader.Invalid("expert_count", $"{count} is more than llama.cpp's limit of {MaxExperts}");
        }

        if (count == 0)
        {
            if (moeArchitecture)
            {
                throw reader.Invalid("expert_count", $"a {arch} model needs experts, and it has none");
            }

            // llama.cpp asserts n_expert_used == 0 without experts; only a uniform dense model reaches here.
            return used == 0 ? config : throw reader.Invalid("expert_used_count", $"{used} experts used of none");
        }

        if (arch is not ("llama" or "qwen3moe" or "qwen2moe" or "phimoe"))
        {
            throw reader.Invalid("expert_count", $"experts in a {arch} model are not supported (llama, qwen2moe, qwen3moe and phimoe have them)");
        }

        if (used < 1 || used > count)
        {
            throw reader.Invalid("expert_used_count", $"{used} experts used of {count}: it must be 1 to {count}");
        }

        if (reader.Int("expert_group_count", min: 0, fallback: 0) > 1)
        {
            throw reader.Invalid("expert_group_count", "grouped expert routing (DeepSeek V3's) is not supported");
        }

        var expertWidth = arch is "llama" or "phimoe" ? config.FeedForwardLength // their loaders: {n_embd, n_ff, n_expert}
            : reader.Int("expert_feed_forward_length", min: 0, fallback: 0) is > 0 and var width ? width
            : config.FeedForwardLength / used;
        if (expertWidth < 1)
        {
            throw reader.Invalid("expert_feed_forward_length", $"the experts' width is {expertWidth} (feed_forward_length {config.FeedForwardLength} / {used} experts used)");
        }

        var sharedWidth = arch != "qwen2moe" ? 0
            : reader.Int("expert_shared_feed_forward_length", min: 0, fallback: 0) is > 0 and var shared ? shared
            : config.FeedForwardLength;
        if (arch == "qwen2moe" && sharedWidth < 1)
        {
            throw reader.Invalid("expert_shared_feed_forward_length", "the shared expert's width is missing (nor is there a feed_forward_length)");
        }

        return config with
        {
            ExpertCount = count,
            ExpertsUsed = used,
            ExpertFeedForwardLength = expertWidth,
            NormalizeExpertWeights = arch != "qwen2moe", // build_moe_ffn's norm_w in llama.cpp's qwen2moe graph: false
            SharedExpertFeedForwardLength = sharedWidth,
        };
    }
}
