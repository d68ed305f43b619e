#Requires -Version 7.4
# Pester 5 tests for Get-GgufInfo, as the module's users test their automation.
# Run: ./build.ps1 -Test, or after a build: Invoke-Pester ./tests/pester

BeforeDiscovery {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    $noStories = -not (Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf')
}

BeforeAll {
    . (Join-Path $PSScriptRoot 'TestHelpers.ps1')
    Import-QuantPSModule
    $stories = Find-SharedFile 'models/tinyllamas-stories260K/stories260K.gguf'
}

Describe 'Get-GgufInfo' {
    Context 'stories260K from ../shared (skipped without it)' -Skip:$noStories {
        BeforeAll {
            $info = Get-GgufInfo -Path $stories
        }

        It 'returns one GgufModelInfo' {
            @($info).Count | Should -Be 1
            $info | Should -BeOfType ([QuantPS.Gguf.GgufModelInfo])
            $info.Path | Should -Be $stories
        }

        It 'reads <Property> as <Expected>' -TestCases @(
            @{ Property = 'Architecture'; Expected = 'llama' }
            @{ Property = 'FileType'; Expected = 'F32' }
            @{ Property = 'GgufVersion'; Expected = 3 }
            @{ Property = 'TensorCount'; Expected = 48 }
            @{ Property = 'BlockCount'; Expected = 5 }
            @{ Property = 'EmbeddingLength'; Expected = 64 }
            @{ Property = 'HeadCount'; Expected = 8 }
            @{ Property = 'HeadCountKv'; Expected = 4 }
            @{ Property = 'VocabularySize'; Expected = 512 }
            @{ Property = 'ContextLength'; Expected = 2048 }
        ) {
            $info.$Property | Should -Be $Expected
        }

        It 'counts parameters as the sum of the tensor element counts' {
            $sum = (Get-GgufInfo $stories -Tensor | Measure-Object -Property ElementCount -Sum).Sum
            $info.ParameterCount | Should -Be $sum
        }

        It 'reports the file size in bytes' {
            $info.SizeBytes | Should -Be (Get-Item -LiteralPath $stories).Length
        }

        It 'lists 48 tensors with -Tensor, each with its ModelPath' {
            $tensors = Get-GgufInfo $stories -Tensor
            $tensors.Count | Should -Be 48
            $tensors | Should -BeOfType ([QuantPS.Gguf.GgufTensorInfo])
            $tensors.ModelPath | Select-Object -Unique | Should -Be $stories
            $embedding = $tensors | Where-Object Name -EQ 'token_embd.weight'
            $embedding.Type | Should -Be 'F32'
            $embedding.Shape | Should -Be @(64, 512)
            $embedding.SizeBytes | Should -Be (64 * 512 * 4)
        }

        It 'lists metadata with -Metadata in file order' {
            $entries = Get-GgufInfo $stories -Metadata
            ($entries | Where-Object Key -EQ 'general.architecture').Value | Should -Be 'llama'
            $tokens = $entries | Where-Object Key -EQ 'tokenizer.ggml.tokens'
            $tokens.TypeName | Should -Be 'Array[String]'
            $tokens.Value.Count | Should -Be 512
            $entries.ModelPath | Select-Object -Unique | Should -Be $stories
        }

        It 'shows sizes in human units and shapes as "64 x 512"' {
            Get-GgufInfo $stories | Out-String | Should -Match '1\.13 MiB'
            Get-GgufInfo $stories -Tensor | Where-Object Name -EQ 'token_embd.weight' | Out-String | Should -Match '64 x 512'
        }
    }

    Context 'pipeline input' {
        BeforeAll {
            $folder = Join-Path $TestDrive 'models'
            $null = New-Item -ItemType Directory -Path $folder
            $a = New-TinyGguf -Path (Join-Path $folder 'a.gguf') -Name 'a'
            $b = New-TinyGguf -Path (Join-Path $folder 'b.gguf') -Name 'b'
            $bracketed = New-TinyGguf -Path (Join-Path $folder 'model[1].gguf') -Name 'bracketed'
            $bad = New-BrokenGguf -Path (Join-Path $TestDrive 'bad.gguf') -Kind BadMagic
        }

        It 'takes paths by value' {
            ($a, $b | Get-GgufInfo).Name | Should -Be @('a', 'b')
        }

        It 'takes Get-ChildItem output (through PSPath, so brackets stay literal)' {
            $names = (Get-ChildItem -LiteralPath $folder -Filter *.gguf | Get-GgufInfo).Name
            $names | Sort-Object | Should -Be @('a', 'b', 'bracketed')
        }

        It 'expands wildcards' {
            (Get-GgufInfo (Join-Path $folder '?.gguf')).Name | Sort-Object | Should -Be @('a', 'b')
        }

        It 'reports a wildcard matching nothing as a non-terminating GgufFileNotFound' {
            $result = Get-GgufInfo (Join-Path $folder 'none*.gguf'), $a -ErrorVariable errors -ErrorAction SilentlyContinue
            $result.Name | Should -Be 'a'
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -BeLike 'GgufFileNotFound,*'
        }

        It 'takes -LiteralPath names with brackets' {
            (Get-GgufInfo -LiteralPath $bracketed).Name | Should -Be 'bracketed'
        }

        It 'reads the other files when one is bad, with a non-terminating error' {
            $result = $a, $bad, $b | Get-GgufInfo -ErrorVariable errors -ErrorAction SilentlyContinue
            $result.Name | Should -Be @('a', 'b')
            $errors.Count | Should -Be 1
            $errors[0].FullyQualifiedErrorId | Should -BeLike 'GgufInvalidMagic,*'
            $errors[0].TargetObject | Should -Be $bad
        }

        It 'refuses -Tensor with -Metadata' {
            { Get-GgufInfo $a -Tensor -Metadata } | Should -Throw -ErrorId 'GgufInvalidArgument,*'
        }

        It 'summarizes the vocabulary in the metadata view' {
            $text = Get-GgufInfo $a -Metadata | Where-Object Key -EQ 'tokenizer.ggml.tokens' | Out-String
            $text | Should -Match '1000'
            $text | Should -Not -Match 'tok999'
        }
    }

    Context 'errors' {
        It '<Kind> gives <ErrorId> (<Category>)' -TestCases @(
            @{ Kind = 'Missing'; ErrorId = 'GgufFileNotFound'; Category = 'ObjectNotFound' }
            @{ Kind = 'BadMagic'; ErrorId = 'GgufInvalidMagic'; Category = 'InvalidData' }
            @{ Kind = 'Truncated'; ErrorId = 'GgufTruncated'; Category = 'InvalidData' }
            @{ Kind = 'UnsupportedVersion'; ErrorId = 'GgufUnsupportedVersion'; Category = 'NotImplemented' }
        ) {
            $path = Join-Path $TestDrive "$Kind.gguf"
            if ($Kind -ne 'Missing') { $null = New-BrokenGguf -Path $path -Kind $Kind }

            { Get-GgufInfo -LiteralPath $path -ErrorAction Stop } | Should -Throw -ErrorId "$ErrorId,*"

            $null = Get-GgufInfo -LiteralPath $path -ErrorVariable errors -ErrorAction SilentlyContinue
            $errors[0].CategoryInfo.Category | Should -Be $Category
            $errors[0].TargetObject | Should -Be $path
        }
    }

    Context 'module' {
        It 'exports exactly its nine cmdlets' {
            (Get-Command -Module QuantPS).Name | Sort-Object | Should -Be @(
                'Close-LlmModel', 'ConvertFrom-LlmToken', 'ConvertTo-LlmToken', 'ConvertTo-Quantized', 'Get-GgufInfo',
                'Invoke-LocalLlm', 'Measure-LlmMemory', 'Open-LlmModel', 'Test-Gguf')
        }

        It 'has a table and a list view for <TypeName>' -TestCases @(
            @{ TypeName = 'QuantPS.Gguf.GgufModelInfo' }
            @{ TypeName = 'QuantPS.Gguf.GgufTensorInfo' }
            @{ TypeName = 'QuantPS.Gguf.GgufMetadataEntry' }
            @{ TypeName = 'QuantPS.Gguf.GgufFinding' }
        ) {
            $controls = (Get-FormatData -TypeName $TypeName).FormatViewDefinition.Control | ForEach-Object { $_.GetType().Name }
            $controls | Should -Contain 'TableControl'
            $controls | Should -Contain 'ListControl'
        }

        It 'has help with a synopsis and examples for <Name>' -TestCases @(
            @{ Name = 'Get-GgufInfo' }
            @{ Name = 'Test-Gguf' }
        ) {
            $help = Get-Help $Name -Full
            $help.Synopsis | Should -Not -BeLike "$Name *"
            @($help.examples.example).Count | Should -BeGreaterOrEqual 2
        }
    }
}
