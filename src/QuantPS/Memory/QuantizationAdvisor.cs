using System.Globalization;
using System.Text.RegularExpressions;
using QuantPS.Gguf;
using QuantPS.Quantization;
using QuantPS.Quantization.Job;

namespace QuantPS.Memory;

/// <summary>One quantization type for a model: what it would weigh, need, and cost in quality.</summary>
public sealed class LlmQuantizationOption
{
    public required string Type { get; init; }

    /// <summary>The file ConvertTo-Quantized would write (exact for a file; tokenizer excluded for a shape).</summary>
    public long FileSize { get; init; }

    public long Weights { get; init; }

    public long Total { get; init; }

    public long Cpu { get; init; }

    public long Gpu { get; init; }

    public double BitsPerWeight { get; init; }

    /// <summary>llama.cpp's published perplexity increase for the type (tools/quantize), null where it publishes none.</summary>
    public double? PerplexityDelta { get; init; }

    /// <summary>The model that figure was measured on ("Llama-3-8B", "Mistral-7B").</summary>
    public string? PerplexityReference { get; init; }

    public bool Fits { get; init; }

    /// <summary>True when ConvertTo-Quantized can write the type today.</summary>
    public bool CanQuantize { get; init; }

    /// <summary>True when llama-quantize needs an importance matrix for this model and type.</summary>
    public bool NeedsImportanceMatrix { get; init; }

    /// <summary>1 = the best quality that fits; ranks follow quality within fitting, then non-fitting types.</summary>
    public int Rank { get; internal set; }

    /// <summary>Why llama-quantize would refuse this type for this model (no sizes then), or null.</summary>
    public string? Refusal { get; init; }

    /// <summary>The full estimate at this type; null when the type is refused.</summary>
    public LlmMemoryEstimate? Estimate { get; init; }

    public override string ToString() => Refusal is not null ? $"{Type}: refused" : $"{Type}: {Total} bytes{(Fits ? "" : " (does not fit)")}";
}

/// <summary>-Recommend: every type llama-quantize offers, best quality that fits first.</summary>
public static partial class QuantizationAdvisor
{
    /// <summary>The types compared: llama-quantize's list without aliases and COPY.</summary>
    public static IReadOnlyList<QuantizeFileType> Types { get; } =
        QuantizeFileType.All.Where(t => !t.IsCopy && !t.Description.StartsWith("alias", StringComparison.Ordinal)).ToArray();

    /// <summary>The published figure of a type, from llama-quantize's list ("+0.0535 ppl @ Llama-3-8B"); F32 is the reference itself.</summary>
    public static (double? Delta, string? Reference) PublishedPerplexity(QuantizeFileType type)
    {
        ArgumentNullException.ThrowIfNull(type);
        if (type.Name == "F32") return (0, "the F32 reference");
        var m = PplPattern().Match(type.Description);
        return m.Success ? (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), m.Groups[2].Value.Trim()) : (null, null);
    }

    /// <summary>Plans and measures every type (refused ones last, with the reason) for <paramref name="source"/> (a file, remote header or virtual shape model).</summary>
    public static IReadOnlyList<LlmQuantizationOption> Recommend(GgufModel source, MemorySettings settings, MemoryBudget budget, string? name = null, bool hypothetical = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        var options = new List<LlmQuantizationOption>();
        foreach (var type in Types)
        {
            QuantizePlan plan;
            try
            {
                plan = QuantizePlan.Create(source, type, new QuantizeOptions { DryRun = true });
            }
            catch (QuantizationException e)
            {
                // llama-quantize would refuse this type for this model (a row fits no block, no fallback).
                var (d, r) = PublishedPerplexity(type);
                options.Add(new LlmQuantizationOption { Type = type.Name, PerplexityDelta = d, PerplexityReference = r, Refusal = e.Message });
                continue;
            }

            var model = MemoryModel.FromPlan(name ?? MemoryModel.FromGguf(source).Name, ModelShape.FromModel(source), plan, hypothetical);
            var estimate = MemoryEstimator.Estimate(model, settings, budget);
            var (delta, reference) = PublishedPerplexity(type);
            options.Add(new LlmQuantizationOption
            {
                Type = type.Name,
                FileSize = plan.PredictedSize + (hypothetical ? QuantizedModel.VocabularyBytes(model.Shape.VocabularySize) : 0),
                Weights = estimate.Weights,
                Total = estimate.Total,
                Cpu = estimate.Cpu,
                Gpu = estimate.Gpu,
                BitsPerWeight = estimate.BitsPerWeight,
                PerplexityDelta = delta,
                PerplexityReference = reference,
                Fits = estimate.Fits,
                CanQuantize = plan.Tensors.All(t => !t.IsConverted || TypeQuantizer.IsSupported(t.Type)),
                NeedsImportanceMatrix = plan.MissingImportance is not null,
                Estimate = estimate,
            });
        }

        var ordered = options
            .OrderBy(o => o.Refusal is not null)
            .ThenByDescending(o => o.Fits)
            .ThenBy(o => QualityKey(o, options))
            .ThenByDescending(o => o.BitsPerWeight)
            .ToList();
        for (int i = 0; i < ordered.Count; i++) ordered[i].Rank = i + 1;
        return ordered;
    }

    // A type without a published figure is taken to be as good as the best published type no
    // larger than it (in bits per weight); smaller than every published type, it ranks after them.
    private static double QualityKey(LlmQuantizationOption o, List<LlmQuantizationOption> all)
    {
        if (o.PerplexityDelta is { } d) return d;
        var noLarger = all.Where(x => x.PerplexityDelta is not null && x.Refusal is null && x.BitsPerWeight <= o.BitsPerWeight + 1e-9).ToList();
        return noLarger.Count > 0 ? noLarger.Min(x => x.PerplexityDelta!.Value) : double.MaxValue;
    }

    [GeneratedRegex(@"([+-]\d+(?:\.\d+)?) ppl @ (.+)$")]
    private static partial Regex PplPattern();
}
