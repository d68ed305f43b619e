using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.Memory;
using QuantPS.Quantization.Job;
using Xunit;

namespace QuantPS.Tests.Memory;

/// <summary>
/// Mixture-of-experts presets (Mixtral, Qwen2-MoE, Qwen3-MoE, Phi-3.5-MoE): parameter counts against the
/// published ones, the tensor table llama.cpp loads, and per-type sizes as llama-quantize writes them.
/// </summary>
/// <remarks>
/// Full-size files cannot be made here, so the quantization rules were checked on scaled-down forms
/// of the presets (<see cref="Minis"/>: the same architecture, tensor names, expert count, GQA ratio and
/// row lengths that divide into 256-blocks, with few layers and a small vocabulary). Each was written as
/// an F16 GGUF (<see cref="FileMetadata"/>, zero data), loaded by llama.cpp (llama-bench runs it, so the
/// tensor table is the one its loader expects) and quantized by llama-quantize (build-bench, nthreads 2);
/// the output files' sizes are <see cref="LlamaQuantizeBytes"/>, and every tensor's type in them equalled
/// QuantizePlan's. The full-size figures are QuantizePlan's for the presets' own shapes.
/// </remarks>
public sealed class MoePresetTests
{
    internal static readonly (string Name, HypotheticalShape Shape)[] Minis =
    [
        ("mini-mixtral-8x7b", new("llama", 8, 256, 8, 2, 32, 512, 512, 4096, ExpertCount: 8, ExpertUsedCount: 2)),
        ("mini-mixtral-8x22b", new("llama", 14, 768, 12, 2, 64, 512, 512, 4096, ExpertCount: 8, ExpertUsedCount: 2)),
        ("mini-qwen3-30b-a3b", new("qwen3moe", 8, 256, 8, 1, 64, 768, 512, 4096, ExpertCount: 128, ExpertUsedCount: 8, ExpertFeedForwardLength: 256)),
        ("mini-qwen2-57b-a14b", new("qwen2moe", 8, 512, 8, 1, 64, 768, 512, 4096, AttentionBias: true,
            ExpertCount: 64, ExpertUsedCount: 8, ExpertFeedForwardLength: 256, SharedExpertFeedForwardLength: 512)),
        ("mini-phimoe", new("phimoe", 8, 256, 8, 2, 32, 512, 512, 4096, AttentionBias: true, ExpertCount: 16, ExpertUsedCount: 2)),
    ];

    private static readonly string[] Types = ["Q4_K_M", "Q8_0", "Q2_K", "Q3_K_M", "Q5_K_M", "Q4_K_S", "IQ4_XS", "Q6_K"];

    // llama-quantize's output file sizes (bytes) for each mini, in the order of Types.
    private static readonly long[][] LlamaQuantizeBytes =
    [
        [16452480, 28510080, 10171264, 13055872, 19155840, 15502208, 14728064, 22097792],
        [93428352, 162139776, 60041856, 75715200, 108665472, 88955520, 84654720, 125951616],
        [124510560, 217783136, 75026272, 97847136, 145785184, 116899680, 110804832, 168389472],
        [129897696, 227305696, 78418144, 102220000, 152130784, 122040544, 115691744, 175753440],
        [31618144, 55357024, 19092064, 24881760, 37033056, 29708896, 28168800, 42786400],
    ];

    /// <summary>
    /// The metadata the mini files were written with: the shape's, the keys llama.cpp's hparams loader
    /// requires, and a tokenizer of "tok0".."tokN" (SPM).
    /// </summary>
    internal static IReadOnlyList<GgufMetadataEntry> FileMetadata(HypotheticalShape shape, string name)
    {
        string a = shape.Architecture;
        var tokens = Enumerable.Range(0, (int)shape.VocabularySize).Select(i => $"tok{i}").ToArray();
        return shape.Metadata(name).Concat(
        [
            GgufMetadataEntry.Of($"{a}.attention.layer_norm_rms_epsilon", 1e-6f),
            GgufMetadataEntry.Of($"{a}.rope.dimension_count", (uint)shape.HeadDimension),
            GgufMetadataEntry.Of("tokenizer.ggml.model", "llama"),
            GgufMetadataEntry.Of("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, tokens)),
            GgufMetadataEntry.Of("tokenizer.ggml.scores", new GgufArray(GgufValueType.Float32, new float[tokens.Length])),
            GgufMetadataEntry.Of("tokenizer.ggml.token_type", new GgufArray(GgufValueType.Int32, Enumerable.Repeat(1, tokens.Length).ToArray())),
        ]).ToArray();
    }

    private static GgufModel MiniFile(int mini) =>
        GgufModel.FromPlan($"({Minis[mini].Name})", GgufLayout.Plan(FileMetadata(Minis[mini].Shape, Minis[mini].Name), Minis[mini].Shape.Tensors()));

    public static TheoryData<int, string, long> LlamaQuantizeRows()
    {
        var data = new TheoryData<int, string, long>();
        for (int m = 0; m < Minis.Length; m++)
        {
            for (int t = 0; t < Types.Length; t++)
            {
                data.Add(m, Types[t], LlamaQuantizeBytes[m][t]);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(LlamaQuantizeRows))]
    public void ScaledDownPresetsPlanWhatLlamaQuantizeWrites(int mini, string type, long llamaQuantizeBytes)
    {
        using var file = MiniFile(mini);
        var plan = QuantizePlan.Create(file, QuantizeFileType.Parse(type), new QuantizeOptions { DryRun = true });
        Assert.Equal(llamaQuantizeBytes, plan.PredictedSize);
        Assert.Equal(Minis[mini].Shape.ParameterCount, file.Tensors.Sum(t => t.ElementCount));
    }

    [Fact]
    public void EightExpertsGetLlamaQuantizesBumps()
    {
        // Q4_K_M with n_expert == 8 (Mixtral): attn_v and attn_k Q8_0, attn_output Q5_K; ffn_down_exps takes
        // Q6_K on use_more_bits layers by the layer in its name; the router stays F32.
        using var file = MiniFile(0);
        var plan = QuantizePlan.Create(file, QuantizeFileType.Parse("Q4_K_M"), new QuantizeOptions { DryRun = true });
        GgmlType[] TypesOf(string role) => plan.Tensors.Where(t => t.Name.EndsWith($".{role}.weight", StringComparison.Ordinal)).Select(t => t.Type).ToArray();
        Assert.All(TypesOf("attn_v"), t => Assert.Equal(GgmlType.Q8_0, t));
        Assert.All(TypesOf("attn_k"), t => Assert.Equal(GgmlType.Q8_0, t));
        Assert.All(TypesOf("attn_output"), t => Assert.Equal(GgmlType.Q5_K, t));
        Assert.All(TypesOf("ffn_gate_inp"), t => Assert.Equal(GgmlType.F32, t));
        Assert.All(TypesOf("ffn_gate_exps"), t => Assert.Equal(GgmlType.Q4_K, t));
        var down = plan.Tensors.Where(t => t.Name.EndsWith(".ffn_down_exps.weight", StringComparison.Ordinal)).ToDictionary(t => t.Name, t => t.Type);
        // use_more_bits(i, 8): layers 0, 3, 6 and 7.
        Assert.Equal([GgmlType.Q6_K, GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q4_K, GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.Q6_K],
            Enumerable.Range(0, 8).Select(i => down[$"blk.{i}.ffn_down_exps.weight"]));
    }

    [Theory]
    [InlineData("mixtral-8x7b", 46_702_792_704L, 46.7)]
    [InlineData("mixtral-8x22b", 140_630_071_296L, 141)] // published rounded up from 140.6
    [InlineData("qwen2-57b-a14b", 57_408_658_944L, 57.4)]
    [InlineData("qwen3-30b-a3b", 30_532_122_624L, 30.5)]
    [InlineData("qwen3-235b-a22b", 235_093_634_560L, 235)]
    [InlineData("phi-3.5-moe", 41_873_153_472L, 41.9)] // 128 of them the LongRoPE factors, kept in config.json by the checkpoint
    public void PresetsHoldTheirPublishedParameterCounts(string preset, long tensorTable, double publishedBillions)
    {
        long count = ModelPresets.Get(preset).ParameterCount;
        Assert.Equal(tensorTable, count);
        Assert.InRange(count / (publishedBillions * 1e9), 0.99, 1.01);
    }

    [Theory]
    [InlineData("mixtral-8x7b", 28_447_727_616L, 49_625_579_520L, 1_073_741_824L)]
    [InlineData("mixtral-8x22b", 85_598_035_968L, 149_429_575_680L, 1_879_048_192L)]
    [InlineData("qwen2-57b-a14b", 34_847_314_432L, 61_016_840_192L, 469_762_048L)]
    [InlineData("qwen3-30b-a3b", 18_550_716_416L, 32_477_962_240L, 805_306_368L)]
    [InlineData("qwen3-235b-a22b", 142_148_069_376L, 249_934_100_480L, 1_577_058_304L)]
    [InlineData("phi-3.5-moe", 25_345_236_736L, 44_499_007_232L, 1_073_741_824L)]
    public void PresetsPlanTheirWeightsAndCache(string preset, long q4KM, long q8, long kvAt8192)
    {
        // Model bytes as QuantizePlan plans them (the rules the minis checked against llama-quantize);
        // the F16 cache of n_ctx 8192: layers · 8192 · n_head_kv · head_dim · 2 (K and V) · 2 bytes.
        var shape = ModelPresets.Get(preset).ToShape();
        var settings = new MemorySettings { ContextLength = 8192 };
        var budget = new MemoryBudget(1L << 45, 0);
        var q4 = MemoryEstimator.Estimate(QuantizedModel.Plan(shape, QuantizeFileType.Parse("Q4_K_M"), preset), settings, budget);
        Assert.Equal(q4KM, q4.Weights);
        Assert.Equal(kvAt8192, q4.KvCache);
        Assert.True(q4.ComputeBuffers > 0);
        Assert.Equal(q8, QuantizedModel.Plan(shape, QuantizeFileType.Parse("Q8_0"), preset).WeightBytes);
    }

    [Theory]
    [InlineData("BF16", 61.10)]
    [InlineData("Q8_0", 32.48)]
    [InlineData("Q6_K", 25.10)]
    [InlineData("Q5_K_M", 21.74)]
    [InlineData("Q5_K_S", 21.10)]
    public void Qwen3_30B_A3B_files_match_published_sizes(string type, double publishedGb)
    {
        // bartowski's Qwen3-30B-A3B GGUFs (llama.cpp b5200; GB as 1e9 bytes). The imatrix they were made
        // with does not change these types; the rest is the tokenizer (merges, chat template).
        double gb = QuantizedModel.Plan(ModelPresets.Get("qwen3-30b-a3b").ToShape(), QuantizeFileType.Parse(type), "q").FileSize / 1e9;
        Assert.True(Math.Abs(gb - publishedGb) <= 0.005 * publishedGb, $"{type}: {gb:0.000} GB predicted, {publishedGb} published");
    }

    [Theory]
    [InlineData("mixtral-8x7b", 8, 2, 14336)]
    [InlineData("mixtral-8x22b", 8, 2, 16384)]
    [InlineData("qwen2-57b-a14b", 64, 8, 2560)]
    [InlineData("qwen3-30b-a3b", 128, 8, 768)]
    [InlineData("qwen3-235b-a22b", 128, 8, 1536)]
    [InlineData("phi-3.5-moe", 16, 2, 6400)]
    public void TheEstimatorReadsThePresetsExperts(string preset, int experts, int used, long width)
    {
        var shape = ModelPresets.Get(preset).ToShape();
        using var model = shape.ToVirtualModel(preset);
        var read = ModelShape.FromModel(model);
        Assert.True(read.IsMixtureOfExperts);
        Assert.Equal(experts, read.ExpertCount);
        Assert.Equal(used, read.ExpertUsedCount);
        Assert.Equal(width, read.ExpertFeedForwardLength);
        Assert.Equal(width, shape.ExpertWidth);
        Assert.Equal(0, read.SlidingWindow); // phimoe's config window is not one llama.cpp applies
    }

    [Theory]
    [InlineData("phimoe", 0)] // llama.cpp's phimoe never reads the key
    [InlineData("phi3", 0)] // llama.cpp's phi3 reads it and turns the window off
    [InlineData("llama", 2048)]
    public void PhiWindowKeysAreIgnoredAsLlamaCppIgnoresThem(string arch, int window)
    {
        // Phi converters write config.json's sliding_window (131072 for Phi-3.5-MoE, 2047 for Phi-3-mini).
        var shape = arch == "phimoe" ? Minis[4].Shape : Minis[4].Shape with { Architecture = arch, ExpertCount = 0, ExpertUsedCount = 0 };
        var metadata = shape.Metadata("phi").Append(GgufMetadataEntry.Of($"{arch}.attention.sliding_window", 2048u)).ToArray();
        using var model = GgufModel.FromPlan("(phi)", GgufLayout.Plan(metadata, shape.Tensors()));
        var read = ModelShape.FromModel(model);
        Assert.Equal(window, read.SlidingWindow);
        // Without a window every layer caches all 8192 cells: 8 layers · 8192 · (2 KV heads · 32) · K and V · 2 bytes.
        var est = MemoryEstimator.Estimate(new MemoryModel("phi", read, [], "F16", 0, true), new MemorySettings { ContextLength = 8192 }, new MemoryBudget(1L << 40, 0));
        Assert.Equal(window == 0, est.KvCache == 8L * 8192 * 64 * 2 * 2);
    }

    [Theory]
    [InlineData(0)] // llama with experts
    [InlineData(1)] // qwen3moe
    public void ExpertTablesAreThoseLlamaCppLoadedForMoeMemoryTests(int synthetic)
    {
        // SyntheticMoe's files are what llama.cpp measured for MoeMemoryTests; the hypothetical shape
        // of the same model has the same tensors.
        var s = MoeMemoryTests.Shapes[synthetic];
        var shape = new HypotheticalShape(s.Architecture, s.Layers, s.Embedding, s.Heads, s.HeadsKv, s.HeadDim,
            s.Architecture == "llama" ? s.Width : 3 * s.Embedding, s.Vocabulary, 4096, ExpertCount: s.Experts, ExpertUsedCount: s.Used,
            ExpertFeedForwardLength: s.Architecture == "llama" ? 0 : s.Width);
        static string[] Table(IEnumerable<GgufTensorSpec> specs) =>
            specs.Select(t => $"{t.Name} {t.Type} [{string.Join(",", t.Shape)}]").Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(Table(s.Tensors()), Table(shape.Tensors()));
        Assert.Equal(s.ParameterCount, shape.ParameterCount);
    }

    [Theory]
    [InlineData("qwen3moe", 8, 2, 0, 0)] // no expert width
    [InlineData("llama", 8, 9, 0, 0)] // more used than there are
    [InlineData("llama", 8, 0, 0, 0)]
    [InlineData("llama", 0, 2, 0, 0)] // used without a count
    [InlineData("llama", 8, 2, 1024, 0)] // llama's experts are feed_forward_length wide
    [InlineData("qwen3moe", 8, 2, 256, 512)] // no shared expert in qwen3moe
    [InlineData("gemma2", 8, 2, 0, 0)] // no expert layout known
    [InlineData("qwen2moe", 0, 0, 0, 0)] // a mixture-of-experts architecture without experts
    public void BadExpertShapesAreRefused(string arch, int experts, int used, long width, long shared)
    {
        var shape = new HypotheticalShape(arch, 4, 256, 4, 2, 64, 512, 512, 2048,
            ExpertCount: experts, ExpertUsedCount: used, ExpertFeedForwardLength: width, SharedExpertFeedForwardLength: shared);
        var e = Assert.Throws<MemoryEstimateException>(shape.Validate);
        Assert.Equal(MemoryErrorIds.InvalidShape, e.ErrorId);
    }

    [Fact]
    public void TheExpertWidthIsSolvedFromACountWhenItIsTheFeedForwardLength()
    {
        var mixtral = ModelPresets.Get("mixtral-8x7b").ToShape();
        Assert.Equal(14336, HypotheticalShape.FeedForwardFor(46_702_792_704L, mixtral with { FeedForwardLength = 0 }));
        // qwen3moe's experts have their own width: the feed-forward length does not size the model.
        var qwen = ModelPresets.Get("qwen3-30b-a3b").ToShape();
        var e = Assert.Throws<MemoryEstimateException>(() => HypotheticalShape.FeedForwardFor(30_000_000_000L, qwen));
        Assert.Equal(MemoryErrorIds.InvalidShape, e.ErrorId);
    }
}
