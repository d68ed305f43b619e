using System.Buffers.Binary;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Tests.Engine;

/// <summary>The shape of a tiny model: small enough to build, load and run in milliseconds.</summary>
internal sealed record TinySpec(string Architecture, GgmlType Type)
{
    public int Embedding { get; init; } = 64;

    public int Layers { get; init; } = 2;

    public int Heads { get; init; } = 4;

    public int KvHeads { get; init; } = 2;

    /// <summary>Written as attention.key_length / value_length when it is not embedding / heads.</summary>
    public int HeadDimension { get; init; } = 16;

    public int FeedForward { get; init; } = 128;

    public int Vocabulary { get; init; } = 96;

    public int ContextLength { get; init; } = 256;

    /// <summary>Experts per layer (0: dense); qwen2moe, qwen3moe and phimoe need some, llama may have them.</summary>
    public int Experts { get; init; }

    public int ExpertsUsed { get; init; }

    /// <summary>One expert's width (qwen2moe and qwen3moe write it; llama's and phimoe's are the feed-forward length).</summary>
    public int ExpertWidth { get; init; }
}

/// <summary>
/// A tiny model of any supported architecture built from nothing (a made-up SentencePiece vocabulary, seeded weights),
/// whose metadata and tensor table can be edited before it is written: the raw material of the malformed-model tests.
/// Weights are small, finite values in any type (quantized blocks are random bytes with every 16-bit scale finite).
/// </summary>
internal sealed class TinyModel
{
    public TinyModel(TinySpec spec)
    {
        Spec = spec;
        var a = spec.Architecture;
        Metadata = [];
        Set("general.architecture", a);
        Set(a + ".block_count", (uint)spec.Layers);
        Set(a + ".context_length", (uint)spec.ContextLength);
        Set(a + ".embedding_length", (uint)spec.Embedding);
        Set(a + ".feed_forward_length", (uint)spec.FeedForward);
        Set(a + ".attention.head_count", (uint)spec.Heads);
        Set(a + ".attention.head_count_kv", (uint)spec.KvHeads);
        if (spec.HeadDimension * spec.Heads != spec.Embedding)
        {
            Set(a + ".attention.key_length", (uint)spec.HeadDimension);
            Set(a + ".attention.value_length", (uint)spec.HeadDimension);
        }

        Set(a + ".rope.dimension_count", (uint)spec.HeadDimension);
        Set(a + ".rope.freq_base", 10000f);
        Set(a + ".attention.layer_norm_rms_epsilon", 1e-5f);
        if (spec.Experts > 0)
        {
            Set(a + ".expert_count", (uint)spec.Experts);
            Set(a + ".expert_used_count", (uint)spec.ExpertsUsed);
            if (a is "qwen2moe" or "qwen3moe")
            {
                Set(a + ".expert_feed_forward_length", (uint)spec.ExpertWidth);
            }

            if (a == "qwen2moe")
            {
                Set(a + ".expert_shared_feed_forward_length", (uint)spec.FeedForward);
            }
        }

        if (a == "gemma2")
        {
            Set(a + ".attn_logit_softcapping", 50f);
            Set(a + ".final_logit_softcapping", 30f);
            Set(a + ".attention.sliding_window", 8u);
        }

        if (a is "phi3" or "phimoe")
        {
            Set(a + ".rope.scaling.original_context_length", 64u);
        }

        AddVocabulary(spec.Vocabulary);
        Tensors = [];
        AddTensors();
    }

    public TinySpec Spec { get; }

    public List<GgufMetadataEntry> Metadata { get; }

    public List<GgufTensorSpec> Tensors { get; }

    /// <summary>Replaces the entry <paramref name="key"/>, or adds it.</summary>
    public void Set(string key, object value)
    {
        var entry = GgufMetadataEntry.Of(key, value);
        var at = Metadata.FindIndex(e => e.Key == key);
        if (at < 0)
        {
            Metadata.Add(entry);
        }
        else
        {
            Metadata[at] = entry;
        }
    }

    public void Remove(string key) => Metadata.RemoveAll(e => e.Key == key);

    /// <summary>Replaces the tensor <paramref name="name"/>'s type or shape (its data is made anew).</summary>
    public void Change(string name, GgmlType? type = null, long[]? shape = null)
    {
        var at = Tensors.FindIndex(t => t.Name == name);
        var old = Tensors[at];
        Tensors[at] = new GgufTensorSpec(name, type ?? old.Type, shape ?? old.Shape);
    }

    public void Drop(string name) => Tensors.RemoveAll(t => t.Name == name);

    /// <summary>Writes the model; the same model and seed always give the same bytes.</summary>
    public string Write(string path, int seed = 1)
    {
        GgufWriter.Write(path, Metadata, Tensors, i => Data(Tensors[i], seed), overwrite: true);
        return path;
    }

    private void AddVocabulary(int size)
    {
        // <unk>, <s>, </s>, then plain pieces: enough for the SentencePiece loader, and any id below size is a token.
        var tokens = new string[size];
        var scores = new float[size];
        var types = new int[size];
        for (var i = 0; i < size; i++)
        {
            tokens[i] = i switch { 0 => "<unk>", 1 => "<s>", 2 => "</s>", _ => "\u2581t" + i.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            scores[i] = -i;
            types[i] = i == 0 ? 2 : i < 3 ? 3 : 1;
        }

        Set("tokenizer.ggml.model", "llama");
        Set("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, tokens));
        Set("tokenizer.ggml.scores", new GgufArray(GgufValueType.Float32, scores));
        Set("tokenizer.ggml.token_type", new GgufArray(GgufValueType.Int32, types));
        Set("tokenizer.ggml.bos_token_id", 1u);
        Set("tokenizer.ggml.eos_token_id", 2u);
    }

    private void AddTensors()
    {
        var s = Spec;
        var a = s.Architecture;
        long d = s.Embedding, qw = (long)s.Heads * s.HeadDimension, kvw = (long)s.KvHeads * s.HeadDimension, ff = s.FeedForward;
        var w = s.Type;
        var phi = a is "phi3" or "phimoe";
        var gemma = a is "gemma" or "gemma2";
        Tensor("token_embd.weight", w, d, s.Vocabulary);
        Vector("output_norm.weight", d);
        if (!gemma)
        {
            Tensor("output.weight", w, d, s.Vocabulary);
        }

        if (a == "phimoe")
        {
            Vector("output_norm.bias", d);
            Vector("output.bias", s.Vocabulary);
        }

        if (phi)
        {
            Vector("rope_factors_long.weight", s.HeadDimension / 2);
            Vector("rope_factors_short.weight", s.HeadDimension / 2);
        }

        for (var l = 0; l < s.Layers; l++)
        {
            var p = $"blk.{l}.";
            Vector(p + "attn_norm.weight", d);
            if (a == "phi3")
            {
                Tensor(p + "attn_qkv.weight", w, d, qw + (2 * kvw));
            }
            else
            {
                Tensor(p + "attn_q.weight", w, d, qw);
                Tensor(p + "attn_k.weight", w, d, kvw);
                Tensor(p + "attn_v.weight", w, d, kvw);
            }

            Tensor(p + "attn_output.weight", w, qw, d);
            Vector(p + "ffn_norm.weight", d);
            if (a is "qwen2" or "qwen2moe")
            {
                Vector(p + "attn_q.bias", qw);
                Vector(p + "attn_k.bias", kvw);
                Vector(p + "attn_v.bias", kvw);
            }

            if (a is "qwen3" or "qwen3moe")
            {
                Vector(p + "attn_q_norm.weight", s.HeadDimension);
                Vector(p + "attn_k_norm.weight", s.HeadDimension);
            }

            if (a == "gemma2")
            {
                Vector(p + "post_attention_norm.weight", d);
                Vector(p + "post_ffw_norm.weight", d);
            }

            if (a == "phimoe")
            {
                Vector(p + "attn_norm.bias", d);
                Vector(p + "ffn_norm.bias", d);
                Vector(p + "attn_output.bias", d);
            }

            if (s.Experts > 0)
            {
                long width = a is "qwen2moe" or "qwen3moe" ? s.ExpertWidth : ff;
                Tensor(p + "ffn_gate_inp.weight", GgmlType.F32, d, s.Experts);
                Tensor(p + "ffn_gate_exps.weight", w, d, width, s.Experts);
                Tensor(p + "ffn_up_exps.weight", w, d, width, s.Experts);
                Tensor(p + "ffn_down_exps.weight", w, width, d, s.Experts);
                if (a == "qwen2moe")
                {
                    Vector(p + "ffn_gate_inp_shexp.weight", d);
                    Tensor(p + "ffn_gate_shexp.weight", w, d, ff);
                    Tensor(p + "ffn_up_shexp.weight", w, d, ff);
                    Tensor(p + "ffn_down_shexp.weight", w, ff, d);
                }
            }
            else if (a == "phi3")
            {
                Tensor(p + "ffn_up.weight", w, d, 2 * ff);
                Tensor(p + "ffn_down.weight", w, ff, d);
            }
            else
            {
                Tensor(p + "ffn_gate.weight", w, d, ff);
                Tensor(p + "ffn_up.weight", w, d, ff);
                Tensor(p + "ffn_down.weight", w, ff, d);
            }
        }

        void Vector(string name, long length) => Tensor(name, GgmlType.F32, length);

        void Tensor(string name, GgmlType type, params long[] shape) => Tensors.Add(new GgufTensorSpec(name, type, shape));
    }

    // Seeded by the tensor's name, so that editing one tensor leaves the others' bytes alone.
    private static byte[] Data(GgufTensorSpec tensor, int seed)
    {
        var info = GgmlTypeTraits.Get(tensor.Type);
        var rows = tensor.Shape.Skip(1).Aggregate(1L, (x, y) => x * y);
        var bytes = new byte[checked(info.RowSizeBytes(tensor.Shape.Count == 0 ? 0 : tensor.Shape[0]) * rows)];
        var random = new Random(seed ^ StableHash(tensor.Name));
        var norm = tensor.Name.Contains("norm", StringComparison.Ordinal) || tensor.Name.Contains("factors", StringComparison.Ordinal);
        float Value() => norm ? 1f + (0.2f * (random.NextSingle() - 0.5f)) : 0.6f * (random.NextSingle() - 0.5f);
        switch (tensor.Type)
        {
            case GgmlType.F32:
                for (var i = 0; i + 4 <= bytes.Length; i += 4)
                {
                    BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i), Value());
                }

                break;
            case GgmlType.F16:
                for (var i = 0; i + 2 <= bytes.Length; i += 2)
                {
                    BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i), (Half)Value());
                }

                break;
            case GgmlType.BF16:
                for (var i = 0; i + 2 <= bytes.Length; i += 2)
                {
                    BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i), (ushort)(BitConverter.SingleToUInt32Bits(Value()) >> 16));
                }

                break;
            default:
                // Every odd byte below 0x3C: each 16-bit field (F16 scales) is a finite value under 1.
                random.NextBytes(bytes);
                for (var i = 1; i < bytes.Length; i += 2)
                {
                    bytes[i] &= 0x3B;
                }

                break;
        }

        return bytes;
    }

    private static int StableHash(string text)
    {
        var hash = 2166136261u;
        foreach (var c in text)
        {
            hash = (hash ^ c) * 16777619u;
        }

        return (int)hash;
    }
}
