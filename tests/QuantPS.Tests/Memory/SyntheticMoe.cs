using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Tests.Memory;

/// <summary>
/// A mixture-of-experts model's shape, written as the GGUF llama.cpp loads (MoeMemoryTests' llama.cpp figures
/// were measured on exactly these files; <see cref="Write"/> makes them again):
/// <list type="bullet">
/// <item>llama (Mixtral's layout): llama.expert_count / expert_used_count, experts feed_forward_length wide;</item>
/// <item>qwen3moe: per-head Q/K norms, the query n_head · head_dim wide, experts
/// qwen3moe.expert_feed_forward_length wide, or (<see cref="WidthKey"/> false) feed_forward_length / expert_used_count.</item>
/// </list>
/// Every layer: attn_norm, attn_q/k/v/output, ffn_norm, the F32 router ffn_gate_inp [n_embd, n_expert], and
/// ffn_gate_exps / ffn_up_exps [n_embd, width, n_expert], ffn_down_exps [width, n_embd, n_expert] of
/// <see cref="Weights"/> type (as the other matrices; norms F32). A tokenizer of <see cref="Vocabulary"/> tokens
/// "tok0".."tokN" (SPM). Tensor data is zeros: the buffers llama.cpp reserves do not depend on it.
/// </summary>
internal sealed record SyntheticMoe(
    string Architecture, int Layers, int Embedding, int Heads, int HeadsKv, int HeadDim,
    int Experts, int Used, int Width, int Vocabulary = 512, bool WidthKey = true, GgmlType Weights = GgmlType.F16)
{
    public string Name => $"{Architecture}-e{Embedding}-h{Heads}x{HeadDim}-x{Experts}u{Used}-w{Width}{(WidthKey ? "" : "-nokey")}-{Weights}".ToLowerInvariant();

    private bool Qwen => Architecture == "qwen3moe";

    /// <summary>feed_forward_length: the expert width for llama, width · used for a qwen3moe without the expert key, else 3 · n_embd (unused).</summary>
    private int FeedForward => !Qwen ? Width : WidthKey ? 3 * Embedding : Width * Used;

    public IReadOnlyList<GgufMetadataEntry> Metadata()
    {
        string a = Architecture;
        var tokens = Enumerable.Range(0, Vocabulary).Select(i => $"tok{i}").ToArray();
        var list = new List<GgufMetadataEntry>
        {
            GgufMetadataEntry.Of("general.architecture", a),
            GgufMetadataEntry.Of("general.name", Name),
            GgufMetadataEntry.Of("general.file_type", Weights switch { GgmlType.F32 => 0u, GgmlType.Q8_0 => 7u, _ => 1u }),
            GgufMetadataEntry.Of($"{a}.block_count", (uint)Layers),
            GgufMetadataEntry.Of($"{a}.context_length", 4096u),
            GgufMetadataEntry.Of($"{a}.embedding_length", (uint)Embedding),
            GgufMetadataEntry.Of($"{a}.feed_forward_length", (uint)FeedForward),
            GgufMetadataEntry.Of($"{a}.attention.head_count", (uint)Heads),
            GgufMetadataEntry.Of($"{a}.attention.head_count_kv", (uint)HeadsKv),
            GgufMetadataEntry.Of($"{a}.attention.key_length", (uint)HeadDim),
            GgufMetadataEntry.Of($"{a}.attention.value_length", (uint)HeadDim),
            GgufMetadataEntry.Of($"{a}.rope.dimension_count", (uint)HeadDim),
            GgufMetadataEntry.Of($"{a}.attention.layer_norm_rms_epsilon", 1e-6f),
            GgufMetadataEntry.Of($"{a}.expert_count", (uint)Experts),
            GgufMetadataEntry.Of($"{a}.expert_used_count", (uint)Used),
            GgufMetadataEntry.Of("tokenizer.ggml.model", "llama"),
            GgufMetadataEntry.Of("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, tokens)),
            GgufMetadataEntry.Of("tokenizer.ggml.scores", new GgufArray(GgufValueType.Float32, new float[tokens.Length])),
            GgufMetadataEntry.Of("tokenizer.ggml.token_type", new GgufArray(GgufValueType.Int32, Enumerable.Repeat(1, tokens.Length).ToArray())),
        };
        if (Qwen && WidthKey)
        {
            list.Add(GgufMetadataEntry.Of($"{a}.expert_feed_forward_length", (uint)Width));
        }

        return list;
    }

    public IReadOnlyList<GgufTensorSpec> Tensors()
    {
        long e = Embedding, q = (long)Heads * HeadDim, kv = (long)HeadsKv * HeadDim;
        var w = Weights;
        var list = new List<GgufTensorSpec> { new("token_embd.weight", w, [e, Vocabulary]) };
        for (int i = 0; i < Layers; i++)
        {
            string p = $"blk.{i}.";
            list.Add(new(p + "attn_norm.weight", GgmlType.F32, [e]));
            list.Add(new(p + "attn_q.weight", w, [e, q]));
            list.Add(new(p + "attn_k.weight", w, [e, kv]));
            list.Add(new(p + "attn_v.weight", w, [e, kv]));
            if (Qwen)
            {
                list.Add(new(p + "attn_q_norm.weight", GgmlType.F32, [HeadDim]));
                list.Add(new(p + "attn_k_norm.weight", GgmlType.F32, [HeadDim]));
            }

            list.Add(new(p + "attn_output.weight", w, [q, e]));
            list.Add(new(p + "ffn_norm.weight", GgmlType.F32, [e]));
            list.Add(new(p + "ffn_gate_inp.weight", GgmlType.F32, [e, Experts]));
            list.Add(new(p + "ffn_gate_exps.weight", w, [e, Width, Experts]));
            list.Add(new(p + "ffn_down_exps.weight", w, [Width, e, Experts]));
            list.Add(new(p + "ffn_up_exps.weight", w, [e, Width, Experts]));
        }

        list.Add(new("output_norm.weight", GgmlType.F32, [e]));
        list.Add(new("output.weight", w, [e, Vocabulary]));
        return list;
    }

    /// <summary>The weights the tensor table holds (what the file's parameter count must be).</summary>
    public long ParameterCount => Tensors().Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>Writes the model (zero data) as folder/Name.gguf and returns its path.</summary>
    public string Write(string folder)
    {
        var path = Path.Combine(folder, Name + ".gguf");
        var specs = Tensors();
        using var writer = GgufWriter.Create(path, Metadata(), specs, overwrite: true);
        var zeros = new byte[1 << 20];
        foreach (var t in specs)
        {
            long bytes = GgmlTypeTraits.Get(t.Type).RowSizeBytes(t.Shape[0]) * t.Shape.Skip(1).Aggregate(1L, (a, b) => a * b);
            for (long done = 0; done < bytes; done += zeros.Length)
            {
                writer.WriteTensorData(zeros.AsSpan(0, (int)Math.Min(zeros.Length, bytes - done)));
            }
        }

        writer.Commit();
        return path;
    }
}
