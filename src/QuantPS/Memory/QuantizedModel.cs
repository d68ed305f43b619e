using QuantPS.Gguf;
using QuantPS.Quantization.Job;

namespace QuantPS.Memory;

/// <summary>Turns a file or a shape plus a quantization type into what ConvertTo-Quantized would write.</summary>
public static class QuantizedModel
{
    /// <summary>
    /// The model <paramref name="source"/> becomes once quantized to <paramref name="type"/>: QuantizePlan's
    /// per-tensor types and exact sizes (a dry run: nothing is read or written).
    /// </summary>
    /// <exception cref="QuantPS.Quantization.QuantizationException">llama-quantize would refuse the plan (no fallback type).</exception>
    public static MemoryModel Plan(GgufModel source, QuantizeFileType type, string? name = null, bool hypothetical = false)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(type);
        var plan = QuantizePlan.Create(source, type, new QuantizeOptions { DryRun = true });
        var shape = ModelShape.FromModel(source);
        var fromFile = MemoryModel.FromGguf(source);
        return MemoryModel.FromPlan(name ?? fromFile.Name, shape, plan, hypothetical);
    }

    /// <summary>
    /// A shape's F16 tensor table, planned for <paramref name="type"/>. The file size adds an
    /// estimate of the vocabulary metadata the shape cannot know (<see cref="VocabularyBytes"/>).
    /// </summary>
    public static MemoryModel Plan(HypotheticalShape shape, QuantizeFileType type, string name)
    {
        ArgumentNullException.ThrowIfNull(shape);
        using var model = shape.ToVirtualModel(name);
        var planned = Plan(model, type, name, hypothetical: true);
        return planned with { FileSize = planned.FileSize + VocabularyBytes(shape.VocabularySize) };
    }

    /// <summary>
    /// About what tokenizer.ggml.tokens, scores and token_type take per token: an 8-byte length,
    /// ~7 bytes of text (typical of BPE and SentencePiece vocabularies), a float and an int.
    /// BPE merges are not counted. Small beside any real model's weights.
    /// </summary>
    public static long VocabularyBytes(long vocabularySize) => vocabularySize * (8 + 7 + 4 + 4);
}
