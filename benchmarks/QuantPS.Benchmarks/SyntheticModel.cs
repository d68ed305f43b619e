using System.Globalization;
using QuantPS.Gguf;
using QuantPS.Kernels;

namespace QuantPS.Benchmarks;

/// <summary>
/// The shape of a llama-architecture model; <see cref="TinyLlama"/> is TinyLlama-1.1B's. With <see cref="Experts"/>
/// every feed-forward block is a mixture of that many experts <see cref="FeedForward"/> wide (Mixtral's layout).
/// </summary>
public sealed record ModelShape(string Name, int Embedding, int Layers, int Heads, int KvHeads, int FeedForward, int Vocabulary, int Context, int Experts = 0, int ExpertsUsed = 0)
{
    public static readonly ModelShape TinyLlama = new("tinyllama", 2048, 22, 32, 4, 5632, 32000, 2048);

    /// <summary>
    /// A small mixture of experts in the spirit of OLMoE-1B-7B / Qwen3-30B-A3B, scaled to this machine: 3.5 B
    /// parameters, of which ~1.1 B run per token (8 of 32 experts, 1024 wide, in 16 layers of 2048).
    /// </summary>
    public static readonly ModelShape SmallMoe = new("moe", 2048, 16, 32, 4, 1024, 32000, 2048, Experts: 32, ExpertsUsed: 8);

    /// <summary>Llama-3-8B's shape (grouped-query attention with 8 KV heads, a 128256-token vocabulary): the size most
    /// people run on a CPU, to check that what holds for TinyLlama's shape holds at 8 B parameters.</summary>
    public static readonly ModelShape Llama3_8B = new("llama3-8b", 4096, 32, 32, 8, 14336, 128256, 8192);

    private static readonly ModelShape[] All = [TinyLlama, SmallMoe, Llama3_8B];

    public static ModelShape Get(string name) =>
        All.SingleOrDefault(s => s.Name == name) ?? throw new ArgumentException($"No model shape '{name}' ({string.Join(", ", All.Select(s => s.Name))}).");

    public int KvEmbedding => Embedding / Heads * KvHeads;

    public override string ToString() =>
        $"{Name} shape: {Embedding} wide, {Layers} layers, {Heads} heads / {KvHeads} KV, " +
        (Experts > 0 ? $"{Experts} experts {FeedForward} wide ({ExpertsUsed} used)" : $"feed-forward {FeedForward}") + $", vocabulary {Vocabulary}";
}

/// <summary>
/// Writes a synthetic llama model with our GGUF writer: weights N(0, 0.02²) in F16 (norms 1.0 in F32), a made-up
/// SentencePiece vocabulary (special and byte tokens, then "tok{i}"), and the metadata llama.cpp needs to load it.
/// Speed only: the values are random, so the text it would generate is noise. Deterministic for a seed, and cached:
/// an existing file of the expected size is reused.
/// </summary>
public static class SyntheticModel
{
    public static string Ensure(string path, ModelShape shape, int seed = 1)
    {
        var (metadata, tensors) = Describe(shape);
        var expected = GgufLayout.Plan(metadata, tensors).FileLength;
        if (File.Exists(path) && new FileInfo(path).Length == expected) return path;

        var random = new Random(seed);
        using var writer = GgufWriter.Create(path, metadata, tensors, overwrite: true);
        foreach (var tensor in tensors)
        {
            long count = tensor.Shape.Aggregate(1L, (a, b) => a * b);
            if (tensor.Type == GgmlType.F32 && tensor.Name.EndsWith("ffn_gate_inp.weight", StringComparison.Ordinal))
            {
                // A router of equal rows would tie every expert: random rows spread the tokens as a trained one does.
                var router = new byte[count * 4];
                for (long i = 0; i < count; i++) BitConverter.TryWriteBytes(router.AsSpan((int)(i * 4)), 0.02f * Gaussian(random));
                writer.WriteTensorData(router);
                continue;
            }

            if (tensor.Type == GgmlType.F32)
            {
                var ones = new byte[count * 4];
                for (long i = 0; i < count; i++) BitConverter.TryWriteBytes(ones.AsSpan((int)(i * 4)), 1.0f);
                writer.WriteTensorData(ones);
                continue;
            }

            var chunk = new byte[1 << 22];
            for (long done = 0; done < count;)
            {
                int n = (int)Math.Min(chunk.Length / 2, count - done);
                for (int i = 0; i < n; i++)
                {
                    BitConverter.TryWriteBytes(chunk.AsSpan(i * 2), (Half)(0.02f * Gaussian(random)));
                }

                writer.WriteTensorData(chunk.AsSpan(0, n * 2));
                done += n;
            }
        }

        writer.Commit();
        return path;
    }

    /// <summary>The bytes of tensor data in the file <see cref="Ensure"/> writes.</summary>
    public static long TensorBytes(ModelShape shape) =>
        Describe(shape).Tensors.Sum(t => GgmlTypeTraits.Get(t.Type).RowSizeBytes(t.Shape[0]) * t.Shape.Skip(1).Aggregate(1L, (a, b) => a * b));

    /// <summary>Where the benchmarks keep the TinyLlama-shaped F16 model (QUANTPS_BENCH_MODELS overrides the folder).</summary>
    public static string TinyLlamaF16Path() => F16Path(ModelShape.TinyLlama);

    /// <summary>Where the benchmarks keep a shape's F16 model, <c>&lt;name&gt;-shape-F16.gguf</c>, written when missing.</summary>
    public static string F16Path(ModelShape shape)
    {
        var folder = Environment.GetEnvironmentVariable("QUANTPS_BENCH_MODELS") ?? Path.Combine(Path.GetTempPath(), "quantps-bench");
        Directory.CreateDirectory(folder);
        return Ensure(Path.Combine(folder, $"{shape.Name}-shape-F16.gguf"), shape);
    }

    private static (List<GgufMetadataEntry> Metadata, GgufTensorSpec[] Tensors) Describe(ModelShape s)
    {
        var metadata = new List<GgufMetadataEntry>
        {
            GgufMetadataEntry.Of("general.architecture", "llama"),
            GgufMetadataEntry.Of("general.name", $"synthetic-{s.Name}"),
            GgufMetadataEntry.Of("general.file_type", 1u),
            GgufMetadataEntry.Of("llama.context_length", (uint)s.Context),
            GgufMetadataEntry.Of("llama.embedding_length", (uint)s.Embedding),
            GgufMetadataEntry.Of("llama.block_count", (uint)s.Layers),
            GgufMetadataEntry.Of("llama.feed_forward_length", (uint)s.FeedForward),
            GgufMetadataEntry.Of("llama.rope.dimension_count", (uint)(s.Embedding / s.Heads)),
            GgufMetadataEntry.Of("llama.attention.head_count", (uint)s.Heads),
            GgufMetadataEntry.Of("llama.attention.head_count_kv", (uint)s.KvHeads),
            GgufMetadataEntry.Of("llama.attention.layer_norm_rms_epsilon", 1e-5f),
            GgufMetadataEntry.Of("llama.rope.freq_base", 10000f),
            GgufMetadataEntry.Of("general.quantization_version", 2u),
        };
        if (s.Experts > 0)
        {
            metadata.Add(GgufMetadataEntry.Of("llama.expert_count", (uint)s.Experts));
            metadata.Add(GgufMetadataEntry.Of("llama.expert_used_count", (uint)s.ExpertsUsed));
        }

        metadata.AddRange(Vocabulary(s.Vocabulary));

        var tensors = new List<GgufTensorSpec>
        {
            new("token_embd.weight", GgmlType.F16, [s.Embedding, s.Vocabulary]),
            new("output_norm.weight", GgmlType.F32, [s.Embedding]),
            new("output.weight", GgmlType.F16, [s.Embedding, s.Vocabulary]),
        };
        for (int i = 0; i < s.Layers; i++)
        {
            tensors.Add(new($"blk.{i}.attn_norm.weight", GgmlType.F32, [s.Embedding]));
            tensors.Add(new($"blk.{i}.attn_q.weight", GgmlType.F16, [s.Embedding, s.Embedding]));
            tensors.Add(new($"blk.{i}.attn_k.weight", GgmlType.F16, [s.Embedding, s.KvEmbedding]));
            tensors.Add(new($"blk.{i}.attn_v.weight", GgmlType.F16, [s.Embedding, s.KvEmbedding]));
            tensors.Add(new($"blk.{i}.attn_output.weight", GgmlType.F16, [s.Embedding, s.Embedding]));
            tensors.Add(new($"blk.{i}.ffn_norm.weight", GgmlType.F32, [s.Embedding]));
            if (s.Experts > 0)
            {
                tensors.Add(new($"blk.{i}.ffn_gate_inp.weight", GgmlType.F32, [s.Embedding, s.Experts]));
                tensors.Add(new($"blk.{i}.ffn_gate_exps.weight", GgmlType.F16, [s.Embedding, s.FeedForward, s.Experts]));
                tensors.Add(new($"blk.{i}.ffn_up_exps.weight", GgmlType.F16, [s.Embedding, s.FeedForward, s.Experts]));
                tensors.Add(new($"blk.{i}.ffn_down_exps.weight", GgmlType.F16, [s.FeedForward, s.Embedding, s.Experts]));
                continue;
            }

            tensors.Add(new($"blk.{i}.ffn_gate.weight", GgmlType.F16, [s.Embedding, s.FeedForward]));
            tensors.Add(new($"blk.{i}.ffn_up.weight", GgmlType.F16, [s.Embedding, s.FeedForward]));
            tensors.Add(new($"blk.{i}.ffn_down.weight", GgmlType.F16, [s.FeedForward, s.Embedding]));
        }

        return (metadata, tensors.ToArray());
    }

    // SentencePiece layout as llama's: <unk>, <s>, </s>, 256 byte tokens, then ordinary pieces.
    private static IEnumerable<GgufMetadataEntry> Vocabulary(int size)
    {
        var tokens = new string[size];
        var scores = new float[size];
        var types = new int[size];
        tokens[0] = "<unk>"; types[0] = 2;
        tokens[1] = "<s>"; types[1] = 3;
        tokens[2] = "</s>"; types[2] = 3;
        for (int b = 0; b < 256; b++)
        {
            tokens[3 + b] = string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>");
            types[3 + b] = 6;
        }

        for (int i = 259; i < size; i++)
        {
            tokens[i] = string.Create(CultureInfo.InvariantCulture, $"\u2581tok{i}");
            scores[i] = -i;
            types[i] = 1;
        }

        yield return GgufMetadataEntry.Of("tokenizer.ggml.model", "llama");
        yield return GgufMetadataEntry.Of("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, tokens));
        yield return GgufMetadataEntry.Of("tokenizer.ggml.scores", new GgufArray(GgufValueType.Float32, scores));
        yield return GgufMetadataEntry.Of("tokenizer.ggml.token_type", new GgufArray(GgufValueType.Int32, types));
        yield return GgufMetadataEntry.Of("tokenizer.ggml.bos_token_id", 1u);
        yield return GgufMetadataEntry.Of("tokenizer.ggml.eos_token_id", 2u);
        yield return GgufMetadataEntry.Of("tokenizer.ggml.unknown_token_id", 0u);
    }

    // Box-Muller: one normal deviate per call is plenty here.
    private static float Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }
}
