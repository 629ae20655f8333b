#!/usr/bin/env python3
# Writes the seed corpora in fuzz/corpus/ (the raw-signed-* seeds carry SigV4 signatures computed
# here for the harness credentials, dated 20240501T120000Z, the fuzzed server clock).
import hashlib, hmac, os
AKID="AKIDTRENTFUZZ"; SECRET="trent-fuzz-secret-key"; REGION="us-east-1"; HOST="kms.us-east-1.amazonaws.com"
DATE="20240501T120000Z"
def sign(target, body, ct="application/x-amz-json-1.1", service="kms"):
    hdrs={"content-type":ct,"host":HOST,"x-amz-date":DATE}
    if target is not None: hdrs["x-amz-target"]=target
    names=sorted(hdrs)
    canon="POST\n/\n\n"+"".join(f"{n}:{hdrs[n]}\n" for n in names)+"\n"+";".join(names)+"\n"+hashlib.sha256(body).hexdigest()
    scope=f"{DATE[:8]}/{REGION}/{service}/aws4_request"
    sts=f"AWS4-HMAC-SHA256\n{DATE}\n{scope}\n"+hashlib.sha256(canon.encode()).hexdigest()
    k=("AWS4"+SECRET).encode()
    for part in (DATE[:8],REGION,service,"aws4_request"):
        k=hmac.new(k,part.encode(),hashlib.sha256).digest()
    sig=hmac.new(k,sts.encode(),hashlib.sha256).hexdigest()
    auth=f"AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={';'.join(names)}, Signature={sig}"
    target_line=f"X-Amz-Target: {target}\n" if target is not None else ""
    return (f"POST / HTTP/1.1\nHost: {HOST}\nContent-Type: {ct}\n{target_line}"
            f"X-Amz-Date: {DATE}\nAuthorization: {auth}\nContent-Length: {len(body)}\n\n").encode()+body
base=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
def w(target,name,data):
    if isinstance(data,str): data=data.encode()
    open(os.path.join(base,target,name),"wb").write(data)
enc=b'{"KeyId":"alias/app","Plaintext":"aGVsbG8gdHJlbnQ=","EncryptionContext":{"dept":"hr"}}'
ck=b'{"KeySpec":"ECC_NIST_P256","KeyUsage":"SIGN_VERIFY","Description":"fuzz","Tags":[{"TagKey":"a","TagValue":"b"}],"MultiRegion":true}'
for t in ("sigv4","router"):
    w(t,"raw-signed-encrypt.txt",sign("TrentService.Encrypt",enc))
    w(t,"raw-signed-createkey.txt",sign("TrentService.CreateKey",ck))
    w(t,"raw-unsigned.txt","POST / HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\nContent-Type: application/x-amz-json-1.1\nX-Amz-Target: TrentService.ListKeys\n\n{}")
    w(t,"raw-bad-credential.txt","POST / HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\nX-Amz-Target: TrentService.DescribeKey\nX-Amz-Date: 20240501T120000Z\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDTRENTFUZZ/20240501/us-east-1/kms, SignedHeaders=host;x-amz-date, Signature=00\n\n{\"KeyId\":\"k\"}")
w("sigv4","raw-content-sha.txt","POST /?b=2&a=1 HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\nX-Amz-Content-Sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nX-Amz-Date: 20240501T120000Z\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDTRENTFUZZ/20240501/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n\n")
w("sigv4","sign-encrypt.txt",b"@sign\nPOST / HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\nContent-Type: application/x-amz-json-1.1\nX-Amz-Target: TrentService.Encrypt\n\n"+enc)
w("sigv4","sign-path-query.txt","@sign 600\nPOST /a/./b/../c%3A/?z=1&a=%41&a=0 HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\nX-Amz-Target:   TrentService.Decrypt  \nx-amz-target: again\n\n{}")
w("sigv4","sign-expired.txt","@sign -901\nPOST / HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\n\n{}")
w("sigv4","sign-other-region.txt","@sign 0 eu-west-1\nPOST / HTTP/1.1\nHost: kms.eu-west-1.amazonaws.com\n\n{}")
w("sigv4","sign-unknown-key.txt","@sign 0 us-east-1 AKIDOTHER\nGET /health HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\n\n")
w("sigv4","sign-tamper.txt","@sign\n@tamper\nPOST / HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\n\n{\"Limit\":10}")
w("sigv4","sign-no-host.txt","@sign\nPOST / HTTP/1.1\nContent-Type: application/x-amz-json-1.1\n\n{}")
w("router","signed-encrypt.txt",b"@signed TrentService.Encrypt\n"+enc)
w("router","signed-createkey.txt",b"@signed TrentService.CreateKey\n"+ck)
w("router","signed-replicate.txt",b'@signed TrentService.ReplicateKey\n{"KeyId":"mrk-1234abcd12ab34cd56ef1234567890ab","ReplicaRegion":"eu-west-1","BypassPolicyLockoutSafetyCheck":false}')
w("router","signed-empty.txt","@signed TrentService.ListKeys\n")
w("router","signed-unknown-op.txt","@signed TrentService.Frobnicate\n{}")
w("router","signed-not-object.txt","@signed TrentService.DescribeKey\n[1, 2.5e300, \"x\", null]")
w("router","raw-signed-sts.txt",sign(None,b"Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A111122223333%3Arole%2FR&RoleSessionName=s",ct="application/x-www-form-urlencoded",service="sts"))
w("router","raw-sts-unsigned.txt","POST / HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\nContent-Type: application/x-www-form-urlencoded; charset=utf-8\n\nAction=GetCallerIdentity&Version=2011-06-15")
w("router","sts-caller-identity.txt","@sts\nAction=GetCallerIdentity&Version=2011-06-15")
w("router","sts-no-action.txt","@sts\nVersion=2011-06-15&Action%3D=x+y&=&a")
w("router","raw-health.txt","GET /health HTTP/1.1\nHost: kms.us-east-1.amazonaws.com\n\n")
w("router","raw-get-root.txt","GET /?Action=ListKeys HTTP/1.1\n\n")
w("router","raw-too-large.txt","@limit 16\n@chunk 5\nPOST / HTTP/1.1\nX-Amz-Target: TrentService.Encrypt\nContent-Length: 99999999999\n\n{\"Plaintext\":\"AAAAAAAAAAAAAAAAAAAA\"}")
w("router","raw-stream-error.txt","@chunk 3\n@error\nPOST / HTTP/1.1\nX-Amz-Target: TrentService.Encrypt\n\n{\"KeyId\":\"k\"}")
# policy
pol={
 "default.json":'{\n  "Version" : "2012-10-17",\n  "Id" : "key-default-1",\n  "Statement" : [ {\n    "Sid" : "Enable IAM User Permissions",\n    "Effect" : "Allow",\n    "Principal" : {\n      "AWS" : "arn:aws:iam::111122223333:root"\n    },\n    "Action" : "kms:*",\n    "Resource" : "*"\n  } ]\n}',
 "star.json":'{"Statement":{"Effect":"Allow","Principal":"*","Action":"kms:*","Resource":"*"}}',
 "not-elements.json":'{"Version":"2008-10-17","Id":"x","Statement":[{"Sid":"a b","Effect":"Deny","NotPrincipal":{"AWS":["111122223333","arn:aws:iam::111122223333:role/p/R"]},"NotAction":["kms:Decrypt","kms:Encrypt"],"NotResource":["arn:aws:kms:*:*:key/*"]}]}',
 "service.json":'{"Statement":[{"Effect":"Allow","Principal":{"Service":"logs.amazonaws.com","Federated":["cognito-identity.amazonaws.com"]},"Action":"*","Resource":"*"}]}',
 "conditions.json":'{"Version":"2012-10-17","Statement":[{"Sid":"c","Effect":"Allow","Principal":{"AWS":"*"},"Action":"kms:Encrypt","Resource":"*","Condition":{"NumericLessThan":{"aws:MultiFactorAuthAge":[1,2.5]},"Bool":{"aws:SecureTransport":true},"ForAnyValue:StringLikeIfExists":{"aws:TagKeys":["a*"]},"StringEqualsIgnoreCase":{"kms:EncryptionContext:dept":"HR"},"IpAddress":{"aws:SourceIp":["203.0.113.0/24","::1"]},"DateGreaterThan":{"aws:CurrentTime":"2020-01-01T00:00:00Z"},"ArnLike":{"aws:SourceArn":"arn:aws:s3:::bucket/*"},"Null":{"kms:ViaService":"false"},"BinaryEquals":{"kms:RecipientAttestation:ImageSha384":"q83vEjRWeJA="},"ForAllValues:StringEquals":{"kms:EncryptionContextKeys":["dept","project"]}}}]}',
 "cross-account.json":'{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["arn:aws:iam::444455556666:root","arn:aws:sts::444455556666:assumed-role/Admin/session"]},"Action":["kms:Decrypt","kms:Describe*"],"Resource":"arn:aws:kms:us-east-1:111122223333:key/*"},{"Effect":"Deny","Principal":{"AWS":"*"},"Action":"kms:ScheduleKeyDeletion","Resource":"*","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111122223333"}}}]}',
 "identity.json":'{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"kms:Encrypt","Resource":"*","Condition":{"StringEquals":{"kms:EncryptionContext:dept":"hr"}}}}',
}
for n,d in pol.items(): w("policy",n,d)
rj={
 "encrypt.json":enc,
 "decrypt.json":'{"CiphertextBlob":"AQIDBAUGBwg=","EncryptionContext":{"dept":"hr"},"KeyId":"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab","EncryptionAlgorithm":"SYMMETRIC_DEFAULT","DryRun":false}',
 "createkey.json":ck,
 "replicatekey.json":'{"KeyId":"arn:aws:kms:us-east-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab","ReplicaRegion":"eu-west-1","Policy":"{}","Description":"replica","Tags":[{"TagKey":"k","TagValue":""}]}',
 "sign.json":'{"KeyId":"alias/signer","Message":"ZGlnZXN0","MessageType":"RAW","SigningAlgorithm":"ECDSA_SHA_256","GrantTokens":["t"]}',
 "alias.json":'{"AliasName":"alias/aws/reserved","TargetKeyId":"arn:aws:kms:us-east-1:111122223333:alias/other"}',
 "reencrypt.json":'{"CiphertextBlob":"AA==","SourceKeyId":"1234abcd-12ab-34cd-56ef-1234567890ab","DestinationKeyId":"alias/dest","DestinationEncryptionContext":{}}',
 "numbers.json":'{"NumberOfBytes":1024,"Limit":-1,"PendingWindowInDays":7,"RotationPeriodInDays":90}',
 "key-arn.txt":'arn:aws-cn:kms:cn-north-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
 "enum.txt":'RSASSA_PSS_SHA_256',
}
for n,d in rj.items(): w("request_json",n,d)
