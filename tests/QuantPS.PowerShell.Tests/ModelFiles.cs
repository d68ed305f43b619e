using QuantPS.Gguf;
using QuantPS.Kernels;
using QuantPS.TestSupport;

namespace QuantPS.PowerShell.Tests;

/// <summary>GGUF files for the tests: a small valid model made with GgufWriter, and broken copies of it.</summary>
public static class ModelFiles
{
    public const string Stories260K = "models/tinyllamas-stories260K/stories260K.gguf";

    /// <summary>The real stories260K model from ../shared (skips with a reason without it).</summary>
    public static string Stories => SharedData.File(Stories260K);

    /// <summary>Tensor element counts of <see cref="WriteTiny"/>: 64 × 16 + 64.</summary>
    public const long TinyParameterCount = 64 * 16 + 64;

    public const int TinyVocabularySize = 1000;

    /// <summary>A valid llama-shaped file with a 1000-entry vocabulary (large enough that views must summarize it).</summary>
    public static string WriteTiny(string path, string name = "tiny")
    {
        var tokens = Enumerable.Range(0, TinyVocabularySize).Select(i => "tok" + i).ToArray();
        var metadata = new[]
        {
            GgufMetadataEntry.Of("general.architecture", "llama"),
            GgufMetadataEntry.Of("general.name", name),
            GgufMetadataEntry.Of("llama.context_length", 128u),
            GgufMetadataEntry.Of("llama.embedding_length", 64u),
            GgufMetadataEntry.Of("llama.block_count", 1u),
            GgufMetadataEntry.Of("llama.attention.head_count", 4u),
            GgufMetadataEntry.Of("tokenizer.ggml.model", "llama"),
            GgufMetadataEntry.Of("tokenizer.ggml.tokens", new GgufArray(GgufValueType.String, tokens)),
        };
        var tensors = new[]
        {
            new GgufTensorSpec("token_embd.weight", GgmlType.F32, [64, 16]),
            new GgufTensorSpec("output_norm.weight", GgmlType.F32, [64]),
        };
        GgufWriter.Write(path, metadata, tensors, i => new byte[tensors[i].Shape.Aggregate(4L, (n, d) => n * d)], overwrite: true);
        return path;
    }

    /// <summary>A model split in two shards as llama-gguf-split names them: {folder}/{prefix}-0000N-of-00002.gguf.</summary>
    public static string[] WriteSplit(string folder, string prefix)
    {
        var paths = new string[2];
        for (var shard = 0; shard < 2; shard++)
        {
            var metadata = new List<GgufMetadataEntry>
            {
                GgufMetadataEntry.Of(GgufSplit.NoKey, (ushort)shard),
                GgufMetadataEntry.Of(GgufSplit.CountKey, (ushort)2),
                GgufMetadataEntry.Of(GgufSplit.TensorsCountKey, 2),
            };
            if (shard == 0)
            {
                metadata.InsertRange(0, [GgufMetadataEntry.Of("general.architecture", "llama"), GgufMetadataEntry.Of("general.name", prefix)]);
            }

            var tensor = new GgufTensorSpec(shard == 0 ? "token_embd.weight" : "output.weight", GgmlType.F32, [64, 4]);
            paths[shard] = Path.Combine(folder, GgufSplit.ShardName(prefix, shard + 1, 2));
            GgufWriter.Write(paths[shard], metadata, [tensor], _ => new byte[64 * 4 * 4], overwrite: true);
        }

        return paths;
    }

    /// <summary>A copy of a valid file whose first four bytes are not "GGUF".</summary>
    public static string WriteBadMagic(string path) => WriteMutated(path, bytes => "GGML"u8.CopyTo(bytes));

    /// <summary>A copy claiming GGUF version 99.</summary>
    public static string WriteUnsupportedVersion(string path) => WriteMutated(path, bytes => BitConverter.GetBytes(99u).CopyTo(bytes, 4));

    /// <summary>A copy cut off inside its tensor table, as an interrupted download of the header leaves it.</summary>
    public static string WriteTruncated(string path)
    {
        var scratch = WriteTiny(path + ".valid");
        try
        {
            long headerLength;
            using (var model = GgufModel.Open(scratch))
            {
                headerLength = model.Header.HeaderLength;
            }

            // The table ends with the last tensor's 8-byte offset: cutting into it leaves a fixed-size read short.
            File.WriteAllBytes(path, File.ReadAllBytes(scratch)[..(int)(headerLength - 4)]);
            return path;
        }
        finally
        {
            File.Delete(scratch);
        }
    }

    private static string WriteMutated(string path, Action<byte[]> mutate)
    {
        var bytes = ValidBytes(path);
        mutate(bytes);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static byte[] ValidBytes(string path)
    {
        var scratch = path + ".valid";
        try
        {
            return File.ReadAllBytes(WriteTiny(scratch));
        }
        finally
        {
            File.Delete(scratch);
        }
    }
}
