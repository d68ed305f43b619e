using QuantPS.Gguf;
using QuantPS.Quantization.Job;

namespace QuantPS.Memory;

/// <summary>One weight tensor as the estimate needs it.</summary>
public sealed record WeightTensor(string Name, long Bytes, long Elements);

/// <summary>What is measured: a shape and the bytes of each weight tensor (from a file or a plan).</summary>
public sealed record MemoryModel(string Name, ModelShape Shape, IReadOnlyList<WeightTensor> Tensors, string Type, long FileSize, bool IsHypothetical)
{
    public long ParameterCount => Tensors.Sum(t => t.Elements);

    public long WeightBytes => Tensors.Sum(t => t.Bytes);

    /// <summary>A model file (local or remote header): its tensors' bytes exactly.</summary>
    public static MemoryModel FromGguf(GgufModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var shape = ModelShape.FromModel(model);
        var (fileType, _) = LlamaFileTypes.Determine(model.Metadata, model.Tensors);
        var name = NameOf(model.Location);
        return new MemoryModel(name, shape, model.Tensors.Select(t => new WeightTensor(t.Name, t.SizeBytes, t.ElementCount)).ToArray(),
            LlamaFileTypes.NameOf(fileType) ?? $"unknown ({fileType})", model.FileLength, IsHypothetical: false);
    }

    /// <summary>A file's name (the last segment of a URL), which tells models apart in a pipeline.</summary>
    public static string NameOf(string location) =>
        Uri.TryCreate(location, UriKind.Absolute, out var uri) && !uri.IsFile ? System.IO.Path.GetFileName(uri.AbsolutePath) : System.IO.Path.GetFileName(location);

    /// <summary>The model a quantization plan would write: each tensor's planned type and size.</summary>
    public static MemoryModel FromPlan(string name, ModelShape shape, QuantizePlan plan, bool hypothetical)
    {
        ArgumentNullException.ThrowIfNull(plan);
        return new MemoryModel(name, shape, plan.Tensors.Select(t => new WeightTensor(t.Name, t.SizeBytes, t.Source.ElementCount)).ToArray(),
            plan.FileType.Name, plan.PredictedSize, hypothetical);
    }

    /// <summary>
    /// Which of llama.cpp's layers a tensor belongs to: -1 the input layer (token embeddings,
    /// always on the CPU), 0..n-1 a repeating layer (blk.N.*), n the output layer (the rest).
    /// </summary>
    public static int LayerOf(string name, int blockCount)
    {
        if (name.StartsWith("blk.", StringComparison.Ordinal))
        {
            int end = name.IndexOf('.', 4);
            if (end > 4 && int.TryParse(name.AsSpan(4, end - 4), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var il))
            {
                return il;
            }
        }

        return name.StartsWith("token_embd", StringComparison.Ordinal) || name.StartsWith("per_layer_token_embd", StringComparison.Ordinal)
            || name.StartsWith("pos_embd", StringComparison.Ordinal) || name.StartsWith("token_types", StringComparison.Ordinal)
            || name.StartsWith("rope_", StringComparison.Ordinal)
            ? -1
            : blockCount;
    }
}
