using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.TestSupport;

/// <summary>
/// Models of other architectures made from synth-256's weights (golden README section 1) with the GGUF writer: the
/// metadata keys renamed to the architecture, then per architecture (all additions deterministic):
/// <list type="bullet">
/// <item>qwen2: Q/K/V biases; qwen3: per-head Q/K norm weights;</item>
/// <item>gemma: no output.weight (tied to token_embd, as llama.cpp loads gemma); gemma2 also post-attention and
/// post-FFN norms, attention and final soft-caps of <see cref="Gemma2AttentionSoftCap"/> and
/// <see cref="Gemma2FinalSoftCap"/>, and a sliding window of <see cref="Gemma2SlidingWindow"/> (even layers);</item>
/// <item>phi3: attn_q/k/v fused into attn_qkv (rows Q, K, V) and ffn_gate/ffn_up into ffn_up (gate rows first),
/// LongRoPE factor tensors with an original context of <see cref="Phi3OriginalContext"/> (so a 512 context takes
/// the long factors) and attn_factor, and an attention.sliding_window that llama.cpp ignores for phi3.</item>
/// </list>
/// The vocabulary stays stories260K's SentencePiece one, which llama.cpp accepts with any architecture.
/// </summary>
internal static class SyntheticArchitectures
{
    public const string Source = "golden/models/synth-256.gguf";

    public const float Gemma2AttentionSoftCap = 0.5f;
    public const float Gemma2FinalSoftCap = 1.5f;
    public const uint Gemma2SlidingWindow = 8;
    public const uint Phi3OriginalContext = 256;

    /// <summary>synth-256's metadata with general.architecture and every llama.* key moved to <paramref name="architecture"/>.</summary>
    public static List<GgufMetadataEntry> RenamedMetadata(GgufModel source, string architecture) =>
        source.Metadata.Select(e =>
            e.Key == "general.architecture" ? GgufMetadataEntry.Of(e.Key, architecture)
            : e.Key.StartsWith("llama.", StringComparison.Ordinal) ? new GgufMetadataEntry(architecture + e.Key[5..], e.Type, e.Value)
            : e).ToList();

    public static string Write(string folder, string architecture)
    {
        using var source = GgufModel.Open(SharedData.File(Source));
        var entries = RenamedMetadata(source, architecture);
        switch (architecture)
        {
            case "gemma2":
                entries.Add(GgufMetadataEntry.Of("gemma2.attn_logit_softcapping", Gemma2AttentionSoftCap));
                entries.Add(GgufMetadataEntry.Of("gemma2.final_logit_softcapping", Gemma2FinalSoftCap));
                entries.Add(GgufMetadataEntry.Of("gemma2.attention.sliding_window", Gemma2SlidingWindow));
                break;
            case "phi3":
                entries.Add(GgufMetadataEntry.Of("phi3.rope.scaling.original_context_length", Phi3OriginalContext));
                entries.Add(GgufMetadataEntry.Of("phi3.rope.scaling.attn_factor", MathF.Sqrt(1f + (MathF.Log(2048f / Phi3OriginalContext) / MathF.Log(Phi3OriginalContext)))));
                entries.Add(GgufMetadataEntry.Of("phi3.attention.sliding_window", 8u)); // read, then switched off by llama.cpp
                break;
        }

        var specs = new List<GgufTensorSpec>();
        var data = new List<byte[]>();
        var bytes = source.Tensors.ToDictionary(t => t.Name, t => source.GetTensorData(t).ToArray());
        var gemma = architecture is "gemma" or "gemma2";
        foreach (var tensor in source.Tensors)
        {
            var name = tensor.Name;
            if ((gemma && name == "output.weight")
                || (architecture == "phi3" && (name.EndsWith("attn_q.weight", StringComparison.Ordinal) || name.EndsWith("attn_k.weight", StringComparison.Ordinal) || name.EndsWith("ffn_gate.weight", StringComparison.Ordinal))))
            {
                continue;
            }

            var layer = name.StartsWith("blk.", StringComparison.Ordinal) ? int.Parse(name.Split('.')[1], System.Globalization.CultureInfo.InvariantCulture) : -1;
            var prefix = $"blk.{layer}.";
            if (architecture == "phi3" && name.EndsWith("attn_v.weight", StringComparison.Ordinal))
            {
                Fuse(prefix + "attn_qkv.weight", tensor.Type, prefix + "attn_q.weight", prefix + "attn_k.weight", prefix + "attn_v.weight");
                continue;
            }

            if (architecture == "phi3" && name.EndsWith("ffn_up.weight", StringComparison.Ordinal))
            {
                Fuse(prefix + "ffn_up.weight", tensor.Type, prefix + "ffn_gate.weight", prefix + "ffn_up.weight");
                continue;
            }

            specs.Add(new GgufTensorSpec(name, tensor.Type, tensor.Shape));
            data.Add(bytes[name]);
            if (name == "output.weight" && architecture == "phi3")
            {
                Add("rope_factors_long.weight", 32, i => 1.5f + MathF.Sin(0.7f * i));
                Add("rope_factors_short.weight", 32, i => 1f + (0.1f * MathF.Cos(0.3f * i)));
            }

            if (!name.EndsWith("attn_v.weight", StringComparison.Ordinal))
            {
                continue;
            }

            switch (architecture)
            {
                case "qwen2":
                    Add(prefix + "attn_q.bias", 256, i => 0.8f * MathF.Sin((0.37f * i) + layer));
                    Add(prefix + "attn_k.bias", 128, i => 0.8f * MathF.Cos((0.23f * i) + layer));
                    Add(prefix + "attn_v.bias", 128, i => 0.5f * MathF.Sin((0.11f * i) - layer));
                    break;
                case "qwen3":
                    Add(prefix + "attn_q_norm.weight", 64, i => 1f + (0.1f * MathF.Sin((0.5f * i) + layer)));
                    Add(prefix + "attn_k_norm.weight", 64, i => 1f + (0.1f * MathF.Cos((0.3f * i) + layer)));
                    break;
                case "gemma2":
                    Add(prefix + "post_attention_norm.weight", 256, i => 1f + (0.2f * MathF.Sin((0.13f * i) + layer)));
                    Add(prefix + "post_ffw_norm.weight", 256, i => 1f + (0.2f * MathF.Cos((0.17f * i) - layer)));
                    break;
            }
        }

        var path = Path.Combine(folder, $"synth-256-{architecture}.gguf");
        GgufWriter.Write(path, entries, specs, i => data[i], overwrite: true); // deterministic: a rewrite is the same file
        return path;

        void Add(string name, int length, Func<int, float> value)
        {
            var values = Enumerable.Range(0, length).Select(value).ToArray();
            var raw = new byte[length * sizeof(float)];
            Buffer.BlockCopy(values, 0, raw, 0, raw.Length);
            specs.Add(new GgufTensorSpec(name, GgmlType.F32, [length]));
            data.Add(raw);
        }

        // Rows of the parts one after the other: ggml's [columns, rows] shape grows in rows.
        void Fuse(string name, GgmlType type, params string[] parts)
        {
            var tensors = parts.Select(p => source.FindTensor(p)!).ToArray();
            var rows = tensors.Sum(t => t.Shape[1]);
            specs.Add(new GgufTensorSpec(name, type, [tensors[0].Shape[0], rows]));
            data.Add(parts.SelectMany(p => bytes[p]).ToArray());
        }
    }
}
