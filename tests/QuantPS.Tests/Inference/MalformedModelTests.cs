using QuantPS.Gguf;
using QuantPS.Inference.Engine;
using QuantPS.Kernels;
using QuantPS.Tests.Gguf;
using Xunit;

namespace QuantPS.Tests.Engine;

/// <summary>
/// Models whose header parses but whose hyperparameters disagree with each other or with the tensors, each found by
/// <see cref="ModelMutationFuzzTests"/>' mutator before the engine refused it: each is now an LlmException naming the
/// key, where it was another exception, or gigabytes allocated because a key said so.
/// </summary>
public sealed class MalformedModelTests
{
    private static TinyModel Llama() => new(new TinySpec("llama", GgmlType.F32));

    private static LlmException Refused(TinyModel model, string? expectedSubject = null)
    {
        using var temp = new TempFolder();
        var path = model.Write(temp.File("model.gguf"));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<LlmException>(() => LlmModel.Load(path).Dispose());
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 16 << 20, $"{allocated} bytes allocated to refuse a {new FileInfo(path).Length}-byte file");
        if (expectedSubject is not null)
        {
            Assert.Equal(expectedSubject, e.Subject);
            Assert.Contains(expectedSubject, e.Message, StringComparison.Ordinal);
        }

        return e;
    }

    [Fact]
    public void The_tiny_model_itself_runs()
    {
        using var temp = new TempFolder();
        using var model = LlmModel.Load(Llama().Write(temp.File("model.gguf")));
        using var context = model.CreateContext(new ContextOptions { ContextLength = 16, Threads = 1 });
        Assert.All(context.Decode([1, 2, 3], TestContext.Current.CancellationToken).ToArray(), v => Assert.True(float.IsFinite(v)));
    }

    // Was a FormatException or OverflowException out of Convert.ToInt64: per-layer arrays were converted blindly.
    [Theory]
    [InlineData("strings")]
    [InlineData("NaN")]
    [InlineData("fraction")]
    [InlineData("UInt64 beyond Int64")]
    [InlineData("empty")]
    public void A_per_layer_array_of_non_integers_is_invalid_metadata(string kind)
    {
        var model = Llama();
        model.Set("llama.attention.head_count_kv", kind switch
        {
            "strings" => new GgufArray(GgufValueType.String, new[] { "a", "b" }),
            "NaN" => new GgufArray(GgufValueType.Float32, new[] { float.NaN, float.NaN }),
            "fraction" => new GgufArray(GgufValueType.Float32, new[] { 1.5f, 1.5f }),
            "UInt64 beyond Int64" => new GgufArray(GgufValueType.UInt64, new[] { ulong.MaxValue, ulong.MaxValue }),
            _ => new GgufArray(GgufValueType.UInt32, Array.Empty<uint>()),
        });
        Assert.Equal("LlmInvalidMetadata", Refused(model, "llama.attention.head_count_kv").ErrorId);
    }

    [Fact]
    public void A_uniform_per_layer_array_of_whole_floats_still_loads()
    {
        var model = Llama();
        model.Set("llama.attention.head_count_kv", new GgufArray(GgufValueType.Float32, new[] { 2f, 2f }));
        using var temp = new TempFolder();
        using var loaded = LlmModel.Load(model.Write(temp.File("model.gguf")));
        Assert.Equal(2, loaded.Config.KvHeadCount);
    }

    // 4 heads of 2^30 + 16 values wrap to 64 in int, which matched the real [64, 64] attn_q: the model loaded with a
    // head dimension of a billion and asked for a 32 GB KV cache (and a 4 GB RoPE table).
    [Fact]
    public void Heads_times_key_length_that_wraps_around_is_invalid_metadata()
    {
        var model = new TinyModel(new TinySpec("llama", GgmlType.F32) { KvHeads = 4 });
        model.Set("llama.attention.key_length", (1u << 30) + 16);
        model.Set("llama.attention.value_length", (1u << 30) + 16);
        model.Remove("llama.rope.dimension_count");
        var e = Refused(model, "llama.attention.key_length");
        Assert.Equal("LlmInvalidMetadata", e.ErrorId);
    }

    // The layer table was allocated at block_count's size before the first missing tensor was noticed: 128 MB for
    // 2^24 layers, an OutOfMemoryException for 2^31 - 1.
    [Theory]
    [InlineData(1u << 24)]
    [InlineData(int.MaxValue)]
    public void A_block_count_beyond_the_tensors_is_a_missing_tensor_without_a_huge_allocation(uint layers)
    {
        var model = Llama();
        model.Set("llama.block_count", layers);
        var e = Refused(model, "blk.2.attn_q.weight");
        Assert.Equal("LlmMissingTensor", e.ErrorId);
    }

    // Was an OverflowException from a checked cast.
    [Theory]
    [InlineData(1L << 40)]
    [InlineData(-1L)]
    [InlineData(0L)]
    public void A_vocab_size_out_of_range_is_invalid_metadata(long size)
    {
        var model = Llama();
        model.Set("llama.vocab_size", size);
        Assert.Equal("LlmInvalidMetadata", Refused(model, "llama.vocab_size").ErrorId);
    }
}
