namespace QuantPS.Inference.Sampling;

/// <summary>
/// Sampler settings with llama.cpp's meanings and defaults (common_params_sampling). The chain runs in llama.cpp's
/// default order: penalties, top-k, top-p, min-p, temperature, then a draw from the distribution.
/// DRY, top-n-sigma, typical-p and XTC are off by default in llama.cpp and not implemented here.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Divides the logits; 0 or below = greedy (the most likely token, lowest id on ties).</summary>
    public float Temperature { get; init; } = 0.8f;

    /// <summary>Keep the k most likely tokens; 0 or below = off.</summary>
    public int TopK { get; init; } = 40;

    /// <summary>Keep the smallest set whose probability reaches p; 1 = off.</summary>
    public float TopP { get; init; } = 0.95f;

    /// <summary>Drop tokens less likely than p times the most likely one; 0 = off.</summary>
    public float MinP { get; init; } = 0.05f;

    /// <summary>Divides positive (multiplies negative) logits of recent tokens; 1 = off.</summary>
    public float RepeatPenalty { get; init; } = 1.0f;

    /// <summary>How many recent tokens the penalties look at; 0 = off, -1 = the whole context.</summary>
    public int RepeatLastN { get; init; } = 64;

    /// <summary>Subtracted once per occurrence in the window.</summary>
    public float FrequencyPenalty { get; init; }

    /// <summary>Subtracted once if the token occurs in the window.</summary>
    public float PresencePenalty { get; init; }

    /// <summary>The random seed; null = a fresh random one (reported in the result so the run can be replayed).</summary>
    public uint? Seed { get; init; }

    /// <summary>Tokens the distribution keeps at least (llama.cpp's min_keep).</summary>
    public int MinKeep { get; init; }

    internal bool PenaltiesEnabled =>
        RepeatLastN != 0 && (RepeatPenalty != 1.0f || FrequencyPenalty != 0.0f || PresencePenalty != 0.0f);
}
