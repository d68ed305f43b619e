using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.TestSupport;

namespace QuantPS.Tests.Engine;

/// <summary>
/// qwen2 and qwen3 models made from synth-256's weights (golden README section 1) with the GGUF writer: the metadata
/// keys renamed to the architecture, plus deterministic Q/K/V biases (qwen2) or per-head Q/K norm weights (qwen3).
/// The vocabulary stays stories260K's SentencePiece one, which llama.cpp accepts with any architecture.
/// </summary>
internal static class SyntheticArchitectures
{
    public const string Source = "golden/models/synth-256.gguf";

    public static string Write(string folder, string architecture)
    {
        using var source = GgufModel.Open(SharedData.File(Source));
        var entries = source.Metadata.Select(e =>
            e.Key == "general.architecture" ? GgufMetadataEntry.Of(e.Key, architecture)
            : e.Key.StartsWith("llama.", StringComparison.Ordinal) ? new GgufMetadataEntry(architecture + e.Key[5..], e.Type, e.Value)
            : e).ToList();

        var specs = new List<GgufTensorSpec>();
        var data = new List<byte[]>();
        foreach (var tensor in source.Tensors)
        {
            specs.Add(new GgufTensorSpec(tensor.Name, tensor.Type, tensor.Shape));
            data.Add(source.GetTensorData(tensor).ToArray());
            if (!tensor.Name.EndsWith("attn_v.weight", StringComparison.Ordinal))
            {
                continue;
            }

            var layer = int.Parse(tensor.Name.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture);
            var prefix = $"blk.{layer}.";
            if (architecture == "qwen2")
            {
                Add(prefix + "attn_q.bias", 256, i => 0.8f * MathF.Sin((0.37f * i) + layer));
                Add(prefix + "attn_k.bias", 128, i => 0.8f * MathF.Cos((0.23f * i) + layer));
                Add(prefix + "attn_v.bias", 128, i => 0.5f * MathF.Sin((0.11f * i) - layer));
            }
            else
            {
                Add(prefix + "attn_q_norm.weight", 64, i => 1f + (0.1f * MathF.Sin((0.5f * i) + layer)));
                Add(prefix + "attn_k_norm.weight", 64, i => 1f + (0.1f * MathF.Cos((0.3f * i) + layer)));
            }
        }

        var path = Path.Combine(folder, $"synth-256-{architecture}.gguf");
        GgufWriter.Write(path, entries, specs, i => data[i]);
        return path;

        void Add(string name, int length, Func<int, float> value)
        {
            var values = Enumerable.Range(0, length).Select(value).ToArray();
            var bytes = new byte[length * sizeof(float)];
            Buffer.BlockCopy(values, 0, bytes, 0, bytes.Length);
            specs.Add(new GgufTensorSpec(name, GgmlType.F32, [length]));
            data.Add(bytes);
        }
    }
}
