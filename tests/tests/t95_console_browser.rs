//! The web console as a person uses it: headless Chromium (Debian's `chromium`, driven through
//! `chromedriver` by fantoccini) against two real linked regions. It walks the create-key
//! wizard step by step (alias, description, two tags, an administrator, a user and an external
//! account) and checks through aws-sdk-kms that the key, alias, tags and policy are what the
//! wizard showed; replicates a multi-Region key and moves its primary Region from the key page;
//! signs in with a role; and signs in as a restricted user whose refused action shows AWS's
//! message and is in the audit trail only as a failure. Every wizard step and key page is saved
//! as a PNG under the test's output folder.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use trent_tests::{poll, ClusterOptions, Regions, ACCESS_KEY, ACCOUNT, SECRET_KEY};

const EAST: &str = "us-east-1";
const WEST: &str = "us-west-2";

fn identities() -> String {
    format!(
        r#"
[[users]]
account = "{ACCOUNT}"
name = "admin"
policies = ['{{"Statement":[{{"Effect":"Allow","Action":["kms:*","sts:AssumeRole"],"Resource":"*"}}]}}']
access_keys = [{{ id = "AKIACONSOLEADMIN", secret = "admin-secret" }}]

[[users]]
account = "{ACCOUNT}"
name = "app"
access_keys = [{{ id = "AKIACONSOLEAPP", secret = "app-secret" }}]

[[users]]
account = "{ACCOUNT}"
name = "reader"
policies = ['{{"Statement":[{{"Effect":"Allow","Action":["kms:ListKeys","kms:ListAliases","kms:DescribeKey","kms:GetKeyPolicy","kms:ListResourceTags"],"Resource":"*"}}]}}']
access_keys = [{{ id = "AKIACONSOLEREADER", secret = "reader-secret" }}]

[[roles]]
account = "{ACCOUNT}"
name = "operator"
trust_policy = '{{"Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{ACCOUNT}:user/admin"}},"Action":"sts:AssumeRole"}}]}}'
policies = ['{{"Statement":[{{"Effect":"Allow","Action":"kms:*","Resource":"*"}}]}}']
"#
    )
}

/// `chromedriver` on a free loopback port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_driver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver (Debian's chromium-driver; make deps installs it)");
    let url = format!("http://127.0.0.1:{port}");
    let status = format!("{url}/status");
    poll(Duration::from_secs(30), || async {
        reqwest::get(&status)
            .await
            .ok()
            .filter(|r| r.status().is_success())
    })
    .await
    .expect("chromedriver did not start");
    Driver { child, url }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1800"]
        }),
    );
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a Chromium session")
}

/// Screenshots, numbered in the order taken, under the test's output folder.
struct Shots {
    dir: PathBuf,
    n: usize,
}

impl Shots {
    fn new() -> Shots {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("t95_console");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        println!("console screenshots: {}", dir.display());
        Shots { dir, n: 0 }
    }

    async fn take(&mut self, c: &Client, name: &str) {
        self.n += 1;
        let png = c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        std::fs::write(self.dir.join(format!("{:02}-{name}.png", self.n)), png).unwrap();
    }
}

async fn css(c: &Client, selector: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(selector))
        .await
        .unwrap_or_else(|e| panic!("no {selector} on the page: {e}"))
}

/// The text of `selector`, read again if the page was replaced while reading it.
async fn text(c: &Client, selector: &str) -> String {
    poll(Duration::from_secs(10), || async {
        css(c, selector).await.text().await.ok()
    })
    .await
    .unwrap_or_else(|| panic!("{selector} kept going stale"))
}

async fn fill(c: &Client, selector: &str, value: &str) {
    let field = css(c, selector).await;
    field.clear().await.unwrap();
    field.send_keys(value).await.unwrap();
}

async fn click(c: &Client, selector: &str) {
    css(c, selector).await.click().await.unwrap();
}

/// Clicks `selector` (a submit button or link) and waits until the next page has loaded.
async fn navigate_by(c: &Client, selector: &str) {
    c.execute("window.trentOldPage = true", vec![])
        .await
        .unwrap();
    click(c, selector).await;
    poll(Duration::from_secs(20), || async {
        let loaded = c
            .execute(
                "return window.trentOldPage === undefined && document.readyState === 'complete'",
                vec![],
            )
            .await
            .ok()?;
        (loaded == json!(true)).then_some(())
    })
    .await
    .unwrap_or_else(|| panic!("clicking {selector} loaded no new page"));
}

async fn body(c: &Client) -> String {
    text(c, "body").await
}

async fn sign_in(c: &Client, base: &str, key: &str, secret: &str, role: Option<&str>) {
    c.goto(&format!("{base}/console/")).await.unwrap();
    fill(c, "#access_key_id", key).await;
    fill(c, "#secret", secret).await;
    if let Some(role) = role {
        fill(c, "#role_arn", role).await;
    }
    navigate_by(c, "form[action='/console/sign-in'] button").await;
    css(c, "nav form[action='/console/sign-out']").await;
}

async fn sign_out(c: &Client) {
    navigate_by(c, "nav form[action='/console/sign-out'] button").await;
    css(c, "#access_key_id").await;
}

fn user(name: &str) -> String {
    format!("arn:aws:iam::{ACCOUNT}:user/{name}")
}

/// The wizard, every step, with a screenshot of each; returns the new key's id and the policy
/// the review step showed.
async fn create_through_the_wizard(c: &Client, base: &str, shots: &mut Shots) -> (String, Value) {
    c.goto(&format!("{base}/console/create")).await.unwrap();
    // Step 1: a symmetric key, the defaults.
    assert!(body(c).await.contains("Step 1: Configure key"));
    assert_eq!(
        css(c, "#key_type-symmetric")
            .await
            .prop("checked")
            .await
            .unwrap()
            .as_deref(),
        Some("true")
    );
    shots.take(c, "wizard-1-configure").await;
    navigate_by(c, "#next").await;

    // Step 2: the alias is checked as it is typed; then labels and two tags.
    css(c, "#alias").await;
    fill(c, "#alias", "aws/reserved").await;
    let valid = c
        .execute(
            "return document.getElementById('alias').validity.valid",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        valid,
        json!(false),
        "an aws/ alias passed the as-you-type check"
    );
    fill(c, "#alias", "console-made").await;
    fill(c, "#description", "made by the console wizard").await;
    fill(c, "#tag_key_0", "team").await;
    fill(c, "#tag_value_0", "blue").await;
    navigate_by(c, "#add-tag").await;
    fill(c, "#tag_key_1", "env").await;
    fill(c, "#tag_value_1", "test").await;
    assert_eq!(
        css(c, "#tag_key_0")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("team"),
        "Add tag lost the first tag"
    );
    shots.take(c, "wizard-2-labels").await;
    navigate_by(c, "#next").await;

    // Step 3: an administrator picked from the principals Trent knows, who may not delete.
    let admins = c
        .find_all(Locator::Css("input[name=admins]"))
        .await
        .unwrap();
    let mut picked = false;
    for a in admins {
        if a.attr("value").await.unwrap().as_deref() == Some(user("admin").as_str()) {
            a.click().await.unwrap();
            picked = true;
        }
    }
    assert!(
        picked,
        "the wizard did not offer user/admin: {}",
        body(c).await
    );
    shots.take(c, "wizard-3-administrators").await;
    navigate_by(c, "#next").await;

    // Step 4: a user and another account.
    css(c, "#accounts").await;
    for u in c.find_all(Locator::Css("input[name=users]")).await.unwrap() {
        if u.attr("value").await.unwrap().as_deref() == Some(user("app").as_str()) {
            u.click().await.unwrap();
        }
    }
    fill(c, "#accounts", "444455556666").await;
    shots.take(c, "wizard-4-usage").await;
    navigate_by(c, "#next").await;

    // Step 5: the review shows the policy to be created.
    assert_eq!(text(c, "#review-alias").await, "alias/console-made");
    let shown = css(c, "#policy")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    let policy: Value = serde_json::from_str(&shown).unwrap();
    shots.take(c, "wizard-5-review").await;
    navigate_by(c, "#finish").await;

    let id = text(c, "#key-id").await;
    shots.take(c, "key-page").await;
    (id, policy)
}

async fn wizard_key_is_what_the_wizard_showed(c: &Client, regions: &Regions, shots: &mut Shots) {
    let east = regions.region(0);
    let base = format!("http://{}", east.nodes[0].api_addr);
    sign_in(c, &base, ACCESS_KEY, SECRET_KEY, None).await;
    shots.take(c, "keys-list-empty").await;
    let (id, shown) = create_through_the_wizard(c, &base, shots).await;

    let kms = east.client(1);
    let meta = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = meta.key_metadata.unwrap();
    assert_eq!(meta.description(), Some("made by the console wizard"));
    assert_eq!(meta.key_spec().unwrap().as_str(), "SYMMETRIC_DEFAULT");
    let aliases = kms.list_aliases().key_id(&id).send().await.unwrap();
    let names: Vec<&str> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, ["alias/console-made"]);
    let tags = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    let mut tags: Vec<(String, String)> = tags
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_string(), t.tag_value().to_string()))
        .collect();
    tags.sort();
    assert_eq!(
        tags,
        [
            ("env".into(), "test".into()),
            ("team".into(), "blue".into())
        ]
    );
    let policy = kms.get_key_policy().key_id(&id).send().await.unwrap();
    let policy: Value = serde_json::from_str(policy.policy().unwrap()).unwrap();
    assert_eq!(
        policy, shown,
        "the key's policy is not the one the review showed"
    );
    let statements = policy["Statement"].as_array().unwrap();
    let by_sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).unwrap();
    let admin = by_sid("Allow access for Key Administrators");
    assert_eq!(admin["Principal"]["AWS"], json!([user("admin")]));
    assert!(
        !admin["Action"].to_string().contains("ScheduleKeyDeletion"),
        "administrators may delete though the box was left clear"
    );
    assert_eq!(
        by_sid("Allow use of the key")["Principal"]["AWS"],
        json!([user("app"), "arn:aws:iam::444455556666:root"])
    );

    // The keys list shows it, and its filter finds it by alias.
    c.goto(&format!("{base}/console/?q=console-made"))
        .await
        .unwrap();
    assert!(body(c).await.contains(&id));
    shots.take(c, "keys-list").await;
    c.goto(&format!("{base}/console/?q=no-such-alias"))
        .await
        .unwrap();
    assert!(!body(c).await.contains(&id));
    sign_out(c).await;
}

/// The text of `region`'s row in the key page's Regions table, read in one script (the page
/// reloads itself while a Region is settling), or empty.
async fn region_row(c: &Client, region: &str) -> String {
    let rows = c
        .execute(
            "return Array.from(document.querySelectorAll('#regions tbody tr')).map(r => r.innerText)",
            vec![],
        )
        .await
        .unwrap_or(Value::Null);
    rows.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .find(|row| row.starts_with(region))
        .unwrap_or("")
        .to_string()
}

async fn replicate_and_move_the_primary(c: &Client, regions: &Regions, shots: &mut Shots) {
    let east = regions.region(0);
    let west = regions.region(1);
    let base = format!("http://{}", east.nodes[0].api_addr);
    let id = trent_tests::new_mrk(&east.client(0)).await;
    sign_in(c, &base, "AKIACONSOLEADMIN", "admin-secret", None).await;
    c.goto(&format!("{base}/console/keys/{id}")).await.unwrap();
    assert!(region_row(c, EAST).await.contains("Primary"));
    css(c, "#replica_region")
        .await
        .select_by_value(WEST)
        .await
        .unwrap();
    navigate_by(c, "button[value=ReplicateKey]").await;
    // The page refreshes itself while the replica is Creating.
    assert!(
        region_row(c, WEST).await.contains("Replica"),
        "no us-west-2 row after ReplicateKey: {}",
        body(c).await
    );
    let row = poll(Duration::from_secs(30), || async {
        c.refresh().await.ok()?;
        let row = region_row(c, WEST).await;
        row.contains("Enabled").then_some(row)
    })
    .await
    .expect("the us-west-2 replica never showed Enabled");
    assert!(row.contains("Replica"), "{row}");
    shots.take(c, "multi-region-replicated").await;
    let replica = west
        .client(0)
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(replica.key_metadata.unwrap().enabled);

    css(c, "#primary_region")
        .await
        .select_by_value(WEST)
        .await
        .unwrap();
    navigate_by(c, "button[value=UpdatePrimaryRegion]").await;
    let row = poll(Duration::from_secs(30), || async {
        c.refresh().await.ok()?;
        let row = region_row(c, WEST).await;
        (row.contains("Primary") && row.contains("Enabled")).then_some(row)
    })
    .await
    .expect("us-west-2 never showed as the Enabled primary");
    assert!(row.contains("Primary"));
    shots.take(c, "multi-region-primary-moved").await;
    let west_meta = west
        .client(1)
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let mrc = west_meta
        .key_metadata
        .unwrap()
        .multi_region_configuration
        .unwrap();
    assert_eq!(mrc.primary_key.unwrap().region.as_deref(), Some(WEST));
    sign_out(c).await;
}

/// On a phone-sized window the key page fits the width, and sign-in works from the keyboard
/// alone (Enter in the secret field submits the form).
async fn a_phone_and_a_keyboard(c: &Client, regions: &Regions, shots: &mut Shots) {
    let base = format!("http://{}", regions.region(0).nodes[0].api_addr);
    c.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/console/")).await.unwrap();
    fill(c, "#access_key_id", ACCESS_KEY).await;
    fill(c, "#secret", &format!("{SECRET_KEY}\u{E007}")).await;
    css(c, "nav form[action='/console/sign-out']").await;
    let id = trent_tests::new_key(&regions.region(0).client(0)).await;
    c.goto(&format!("{base}/console/keys/{id}")).await.unwrap();
    let overflow = c
        .execute(
            "return document.documentElement.scrollWidth - window.innerWidth",
            vec![],
        )
        .await
        .unwrap();
    assert!(
        overflow.as_i64().unwrap() <= 0,
        "the key page is {overflow} px wider than a phone"
    );
    shots.take(c, "key-page-phone").await;
    sign_out(c).await;
    c.set_window_size(1280, 1800).await.unwrap();
}

async fn a_role_signs_in(c: &Client, regions: &Regions) {
    let base = format!("http://{}", regions.region(0).nodes[2].api_addr);
    let role = format!("arn:aws:iam::{ACCOUNT}:role/operator");
    sign_in(c, &base, "AKIACONSOLEADMIN", "admin-secret", Some(&role)).await;
    assert!(body(c).await.contains("Customer managed keys"));
    sign_out(c).await;
    // A role the user may not assume: AWS's refusal on the sign-in page.
    c.goto(&format!("{base}/console/")).await.unwrap();
    fill(c, "#access_key_id", "AKIACONSOLEAPP").await;
    fill(c, "#secret", "app-secret").await;
    fill(c, "#role_arn", &role).await;
    navigate_by(c, "form[action='/console/sign-in'] button").await;
    assert!(body(c).await.contains("AccessDenied"), "{}", body(c).await);
}

async fn a_restricted_user_is_refused(c: &Client, regions: &Regions, shots: &mut Shots) {
    let east = regions.region(0);
    let base = format!("http://{}", east.nodes[1].api_addr);
    let id = trent_tests::new_key(&east.client(0)).await;
    sign_in(c, &base, "AKIACONSOLEREADER", "reader-secret", None).await;
    c.goto(&format!("{base}/console/keys/{id}")).await.unwrap();
    navigate_by(c, "button[value=DisableKey]").await;
    let page = body(c).await;
    let expected = format!(
        "AccessDeniedException: User: {} is not authorized to perform: kms:DisableKey on resource: arn:aws:kms:{EAST}:{ACCOUNT}:key/{id}",
        user("reader")
    );
    assert!(page.contains(&expected), "{page}");
    shots.take(c, "restricted-user-refused").await;
    let meta = east
        .client(0)
        .describe_key()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(
        meta.key_metadata.unwrap().enabled,
        "the refused DisableKey took effect"
    );

    // The audit trail of the node that served it holds the refusal, and no success.
    let trail = std::fs::read_to_string(east.data_dir(1).join("audit.jsonl")).unwrap();
    let disables: Vec<Value> = trail
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["eventName"] == "DisableKey" && e["userIdentity"]["arn"] == user("reader"))
        .collect();
    assert!(!disables.is_empty(), "no DisableKey by reader in the trail");
    assert!(
        disables
            .iter()
            .all(|e| e["errorCode"] == "AccessDeniedException"),
        "{disables:?}"
    );
    sign_out(c).await;
}

async fn the_cluster_page_shows_both_regions(c: &Client, regions: &Regions, shots: &mut Shots) {
    let base = format!("http://{}", regions.region(0).nodes[0].api_addr);
    sign_in(c, &base, ACCESS_KEY, SECRET_KEY, None).await;
    c.goto(&format!("{base}/console/cluster")).await.unwrap();
    let page = body(c).await;
    for region in [EAST, WEST] {
        assert!(page.contains(&format!("{region}: healthy")), "{page}");
    }
    let leaders = c.find_all(Locator::Css("td.role")).await.unwrap();
    let mut roles = Vec::new();
    for l in leaders {
        roles.push(l.text().await.unwrap());
    }
    assert_eq!(
        roles.iter().filter(|r| *r == "leader").count(),
        2,
        "{roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| *r == "follower").count(),
        4,
        "{roles:?}"
    );
    shots.take(c, "cluster").await;
    sign_out(c).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_in_a_real_browser() {
    let options = ClusterOptions {
        identities: Some(identities()),
        ..ClusterOptions::default()
    };
    let regions = Regions::start_with(&[EAST, WEST], 3, options).await;
    let driver = start_driver().await;
    let c = browser(&driver).await;
    let mut shots = Shots::new();

    wizard_key_is_what_the_wizard_showed(&c, &regions, &mut shots).await;
    replicate_and_move_the_primary(&c, &regions, &mut shots).await;
    a_phone_and_a_keyboard(&c, &regions, &mut shots).await;
    a_role_signs_in(&c, &regions).await;
    a_restricted_user_is_refused(&c, &regions, &mut shots).await;
    the_cluster_page_shows_both_regions(&c, &regions, &mut shots).await;

    c.close().await.unwrap();
    assert!(shots.n >= 10, "{} screenshots", shots.n);
}
