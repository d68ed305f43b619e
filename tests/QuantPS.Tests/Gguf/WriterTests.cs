using System.Security.Cryptography;
using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.TestSupport;
using Xunit;

namespace QuantPS.Tests.Gguf;

public sealed class WriterTests
{
    public static TheoryData<string> RoundTripFiles() => new(
        "models/tinyllamas-stories260K/stories260K.gguf",
        "models/ollama/llama-2-tiny-random.gguf",
        "models/llama.cpp-vocab/ggml-vocab-gpt-2.gguf",
        "models/llama.cpp-vocab/ggml-vocab-llama-spm.gguf",
        "models/llama.cpp-vocab/ggml-vocab-bert-bge.gguf",
        "models/llama.cpp-vocab/ggml-vocab-phi-3.gguf",
        "models/llama.cpp-vocab/ggml-vocab-baichuan.gguf",
        "models/llama.cpp-vocab/ggml-vocab-deepseek-coder.gguf",
        "models/llama.cpp-vocab/ggml-vocab-gpt-neox.gguf",
        "models/llama.cpp-vocab/ggml-vocab-mpt.gguf",
        "models/llama.cpp-vocab/ggml-vocab-refact.gguf",
        "golden/models/synth-256.gguf",
        "golden/quantized/stories260K/stories260K-Q4_K_M-imatrix.gguf",
        "golden/quantized/synth-256/synth-256-IQ4_XS.gguf");

    [Theory]
    [MemberData(nameof(RoundTripFiles))]
    public void Reading_and_writing_back_gives_the_same_bytes(string relative)
    {
        var source = SharedData.File(relative);
        using var temp = new TempFolder();
        var copy = temp.File("copy.gguf");
        using (var model = GgufModel.Open(source))
        {
            GgufWriter.Copy(model, copy);
        }

        Assert.Equal(Sha256(source), Sha256(copy));
        Assert.Equal(["copy.gguf"], temp.Entries());
    }

    [Fact]
    public void A_version1_file_is_rewritten_as_version3_with_the_same_tensors()
    {
        using var temp = new TempFolder();
        var copy = temp.File("v3.gguf");
        using var v1 = GgufModel.Open(SharedData.File("models/gguf-v1/tinyllamas-stories-260k-f32.gguf"));
        GgufWriter.Copy(v1, copy);

        using var v3 = GgufModel.Open(copy);
        Assert.Equal(3u, v3.Header.Version);
        Assert.Empty(v3.Header.Findings);
        Assert.Equal(v1.Metadata.Select(m => m.Key), v3.Metadata.Select(m => m.Key));
        foreach (var tensor in v1.Tensors)
        {
            Assert.Equal(v1.GetTensorData(tensor).ToArray(), v3.GetTensorData(v3.FindTensor(tensor.Name)!).ToArray());
        }
    }

    [Fact]
    public void A_synthetic_model_of_any_type_reads_back_as_written()
    {
        using var temp = new TempFolder();
        var path = temp.File("synthetic.gguf");
        var specs = GgmlTypeTraits.All
            .Select(t => new GgufTensorSpec($"t.{t.GgmlName}", t.Type, [t.BlockSize * 2, 3]))
            .ToArray();
        var metadata = new[]
        {
            GgufMetadataEntry.Of("general.architecture", "llama"),
            GgufMetadataEntry.Of("general.alignment", 64u),
            GgufMetadataEntry.Of("test.nested", new GgufArray(GgufValueType.Array, new[]
            {
                new GgufArray(GgufValueType.Int32, new[] { 1, 2 }),
                new GgufArray(GgufValueType.String, new[] { "a", "ü" }),
            })),
            GgufMetadataEntry.Of("test.bools", new GgufArray(GgufValueType.Bool, new[] { true, false })),
            GgufMetadataEntry.Of("test.f64", 2.5), GgufMetadataEntry.Of("test.i8", (sbyte)-3), GgufMetadataEntry.Of("test.u16", (ushort)7),
        };
        var data = specs.Select((s, i) => Enumerable.Range(0, (int)new GgufTensorInfo(s.Name, s.Type, s.Shape, 0).SizeBytes)
            .Select(b => (byte)(b * 7 + i)).ToArray()).ToArray();
        var plan = GgufLayout.Plan(metadata, specs);

        GgufWriter.Write(path, metadata, specs, i => data[i]);

        Assert.Equal(plan.FileLength, new FileInfo(path).Length);
        using var model = GgufModel.Open(path);
        Assert.Equal(64u, model.Header.Alignment);
        Assert.Equal(specs.Select(s => (s.Name, s.Type)), model.Tensors.Select(t => (t.Name, t.Type)));
        for (var i = 0; i < specs.Length; i++)
        {
            Assert.Equal(data[i], model.GetTensorData(model.Tensors[i]).ToArray());
            Assert.Equal(0, model.Header.AbsoluteOffset(model.Tensors[i]) % 64);
        }

        var nested = model.Metadata.GetArray("test.nested")!.As<GgufArray>();
        Assert.Equal(new[] { 1, 2 }, nested[0].As<int>());
        Assert.Equal(new[] { "a", "ü" }, nested[1].As<string>());
        Assert.Equal(new[] { true, false }, model.Metadata.GetArray("test.bools")!.As<bool>());
        Assert.Equal(2.5, model.Metadata.GetFloat("test.f64"));
        Assert.Equal(-3, model.Metadata.GetInteger("test.i8"));
    }

    [Fact]
    public void An_existing_file_is_replaced_only_when_overwrite_is_allowed()
    {
        using var temp = new TempFolder();
        var path = temp.Write("model.gguf", [1, 2, 3]);
        var metadata = new[] { GgufMetadataEntry.Of("general.architecture", "llama") };

        var refused = Assert.Throws<GgufException>(() => GgufWriter.Write(path, metadata, [], _ => default));
        Assert.Equal(GgufErrorKind.OutputExists, refused.Kind);
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));

        GgufWriter.Write(path, metadata, [], _ => default, overwrite: true);
        using var model = GgufModel.Open(path);
        Assert.Equal("llama", model.Metadata.GetString("general.architecture"));
        Assert.Equal(["model.gguf"], temp.Entries());
    }

    [Fact]
    public void An_abandoned_write_leaves_neither_output_nor_temporary_file()
    {
        using var temp = new TempFolder();
        var path = temp.File("out.gguf");
        var specs = new[] { new GgufTensorSpec("w", GgmlType.F32, [64]) };

        using (var writer = GgufWriter.Create(path, [], specs))
        {
            writer.WriteTensorData(new byte[100]); // 156 bytes short, then "cancelled"
            Assert.True(File.Exists(writer.TempPath));
            Assert.Throws<InvalidOperationException>(writer.Commit);
        }

        Assert.Empty(temp.Entries());
    }

    [Fact]
    public void A_target_that_cannot_be_written_gives_an_io_error_and_no_file()
    {
        // A path below a regular file is unwritable for every user, root included (permission bits are not).
        using var temp = new TempFolder();
        var file = temp.Write("not-a-folder", [0]);
        var error = Assert.Throws<GgufException>(() => GgufWriter.Write(Path.Combine(file, "x.gguf"), [], [], _ => default));
        Assert.Equal(GgufErrorKind.IoError, error.Kind);
        Assert.Equal(["not-a-folder"], temp.Entries());
    }

    [Fact]
    public void The_writer_refuses_what_the_reader_would_refuse()
    {
        Assert.Throws<GgufException>(() => GgufLayout.Plan([], [new GgufTensorSpec("q", GgmlType.Q4_0, [33])]));
        Assert.Throws<GgufException>(() => GgufLayout.Plan([], [new GgufTensorSpec(new string('n', 64), GgmlType.F32, [1])]));
        Assert.Throws<GgufException>(() => GgufLayout.Plan([], [new GgufTensorSpec("a", GgmlType.F32, [1]), new GgufTensorSpec("a", GgmlType.F32, [1])]));
        Assert.Throws<GgufException>(() => GgufLayout.Plan([GgufMetadataEntry.Of("general.alignment", 48u)], []));
    }

    private static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}
